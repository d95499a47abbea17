"""A compact noise-conditional U-Net for small images (8×8 to 32×32), on the contract ``s(x, σ)``.

The shape of DDPM's / NCSN++'s U-Net (Ho et al. 2020; Song et al. 2021), cut down to run on a
CPU: residual blocks (GroupNorm → SiLU → 3×3 conv, the noise embedding added in between),
strided-conv downsampling, nearest-neighbour upsampling, and an additive skip connection
from the encoder to the decoder at every resolution; no attention (a CPU budget).
Preconditioning as in :mod:`.mlp` (or EDM's, ``precondition="edm"``):

    s(x, σ) = F(c_in(σ)·x, emb(σ)) / σ,      c_in(σ) = 1/sqrt(σ_data² + σ²).

Every operation is per sample (GroupNorm normalises within a sample), so a sample's output
does not depend on the rest of the batch.
"""
import torch
from torch import nn

from ..core import as_sigma, broadcast_like
from .embedding import SigmaEmbedding
from .labels import LabelEmbedding, labels_like


class _ResBlock(nn.Module):
    """GroupNorm → SiLU → conv, + projection of the embedding, GroupNorm → SiLU → conv, + skip."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, in_ch), nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2, self.conv2 = nn.GroupNorm(groups, out_ch), nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.act(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(self.act(self.norm2(h)))
        return self.skip(x) + h


class _Attention(nn.Module):
    """Self-attention over the pixels of one resolution (one head): GroupNorm, q, k, v by 1×1
    convolutions, softmax(qᵀk/√C) v, a 1×1 projection, and the skip connection."""

    def __init__(self, ch: int, groups: int):
        super().__init__()
        self.norm, self.qkv, self.proj = nn.GroupNorm(groups, ch), nn.Conv2d(ch, 3 * ch, 1), nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor, emb=None) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)
        attn = torch.nn.functional.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return x + self.proj(attn.transpose(1, 2).reshape(b, c, h, w))


class ScoreUNet(nn.Module):
    """Noise-conditional U-Net score network for images (batch, channels, H, W).

    Encoder: per resolution, ``num_res_blocks`` residual blocks, then a stride-2 3×3 conv.
    Decoder: per resolution (coarsest first), the encoder's output at that resolution is
    added (an additive skip: cheaper than concatenation, the same information path), then
    ``num_res_blocks`` residual blocks, then nearest-neighbour upsampling after a 1×1 conv to
    the next width. The coarsest level's decoder blocks serve as the bottleneck.

    Args:
        channels: image channels.
        base_channels: width of the first level; level i has ``base_channels·channel_mults[i]``.
        channel_mults: one entry per resolution; H and W must be divisible by
            2^(len(channel_mults) − 1).
        num_res_blocks: residual blocks per resolution, in the encoder and in the decoder.
        sigma_data: the data's standard deviation σ_d, for c_in(σ) = 1/sqrt(σ_d² + σ²).
        groups: GroupNorm groups; every level's width must be divisible by it.
        attention: a self-attention block after each residual block of the lowest resolution.
        n_classes: classes of a class-conditional network (0: none); ``forward(x, σ, y)`` adds
            label y's embedding (−1: the null class, the unconditional score) to the noise's.
        precondition: how the network's output F becomes the score:
            ``"ncsn"``: s = F/σ (NCSNv2);
            ``"edm"``: s = (D − x)/σ² for the denoiser D = c_skip·x + c_out·F with EDM's
            c_skip = σ_d²/(σ² + σ_d²), c_out = σσ_d/√(σ² + σ_d²) (Karras et al. 2022, Table 1),
            i.e. s = −x/(σ² + σ_d²) + σ_d·F/(σ√(σ² + σ_d²)): the score of N(0, (σ² + σ_d²)I)
            plus a learned correction, with F's target at unit variance at every σ.

    ``forward(x, sigma)`` with ``sigma`` a float, a 0-d tensor or a (batch,) tensor returns the
    score, shaped like ``x``.
    """

    def __init__(self, channels: int = 1, base_channels: int = 32, channel_mults=(1, 2),
                 num_res_blocks: int = 1, sigma_data: float = 0.5, groups: int = 8,
                 attention: bool = False, precondition: str = "ncsn", n_classes: int = 0):
        super().__init__()
        channel_mults = tuple(channel_mults)
        if channels < 1 or base_channels < 1 or num_res_blocks < 1 or not channel_mults:
            raise ValueError("ScoreUNet: channels, base_channels, num_res_blocks and channel_mults must be positive")
        widths = [base_channels * m for m in channel_mults]
        if any(w % groups for w in widths):
            raise ValueError(f"ScoreUNet: every level's width {widths} must be divisible by groups={groups}")
        if precondition not in ("ncsn", "edm"):
            raise ValueError(f"ScoreUNet: precondition must be 'ncsn' or 'edm', got {precondition!r}")
        self.channels, self.sigma_data, self.precondition = channels, sigma_data, precondition
        self.n_down = len(widths) - 1
        emb_dim = 4 * base_channels
        self.embed = SigmaEmbedding(emb_dim)
        self.n_classes = n_classes
        self.label_embed = LabelEmbedding(n_classes, emb_dim) if n_classes else None
        self.conv_in = nn.Conv2d(channels, widths[0], 3, padding=1)

        def blocks(in_ch, out_ch, attend):
            layers = []
            for i in range(num_res_blocks):
                layers.append(_ResBlock(in_ch if i == 0 else out_ch, out_ch, emb_dim, groups))
                if attend:
                    layers.append(_Attention(out_ch, groups))
            return nn.ModuleList(layers)

        ins = [widths[0]] + widths[:-1]
        lowest = len(widths) - 1
        self.enc = nn.ModuleList(blocks(i, w, attention and k == lowest) for k, (i, w) in enumerate(zip(ins, widths)))
        self.downsample = nn.ModuleList(nn.Conv2d(w, w, 3, stride=2, padding=1) for w in widths[:-1])
        self.dec = nn.ModuleList(blocks(w, w, attention and k == lowest) for k, w in enumerate(widths))
        self.to_finer = nn.ModuleList(nn.Conv2d(widths[l + 1], widths[l], 1) for l in range(self.n_down))
        self.out = nn.Sequential(nn.GroupNorm(groups, widths[0]), nn.SiLU(),
                                 nn.Conv2d(widths[0], channels, 3, padding=1))

    def forward(self, x: torch.Tensor, sigma, y=None) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"ScoreUNet: expected (batch, {self.channels}, H, W), got {tuple(x.shape)}")
        factor = 2**self.n_down
        if x.shape[2] % factor or x.shape[3] % factor:
            raise ValueError(f"ScoreUNet: H and W must be divisible by {factor}, got {tuple(x.shape[2:])}")
        sigma = as_sigma(sigma, x)
        emb = self.embed(sigma)
        if self.label_embed is not None:  # class-conditional: s(x, σ | y), y = −1 for none
            emb = emb + self.label_embed(labels_like(y, x))
        c_in = torch.rsqrt(self.sigma_data**2 + sigma**2)
        h = self.conv_in(x * broadcast_like(c_in, x))
        skips = []
        for level, level_blocks in enumerate(self.enc):
            for block in level_blocks:
                h = block(h, emb)
            if level < self.n_down:
                skips.append(h)
                h = self.downsample[level](h)
        for level in reversed(range(len(self.dec))):
            if level < self.n_down:
                h = nn.functional.interpolate(self.to_finer[level](h), scale_factor=2, mode="nearest")
                h = h + skips[level]
            for block in self.dec[level]:
                h = block(h, emb)
        sb = broadcast_like(sigma, x)
        if self.precondition == "ncsn":
            return self.out(h) / sb
        total = sb**2 + self.sigma_data**2
        return (self.sigma_data * self.out(h) * torch.rsqrt(total) / sb) - x / total
