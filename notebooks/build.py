"""Write the lecture's notebooks (``notebooks/*.ipynb``, stored without outputs) or execute them.

    python notebooks/build.py                    # (re)write the .ipynb files from the cells below
    python notebooks/build.py --check            # exit 1 if a stored notebook differs from them
    python notebooks/build.py --execute OUT_DIR  # run every notebook, write executed copies to OUT_DIR

One notebook per section of docs/lecture.md: the formula, a few lines of scorelab, a figure,
and one exercise whose answer the next cell checks against a closed form. The cells live here
so that the notebooks stay tidy and the same; the .ipynb files are what students open.
"""
import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETUP = """\
import math
import warnings
warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm's notebook bar needs ipywidgets
import torch
import matplotlib.pyplot as plt
torch.manual_seed(0)
gen = torch.Generator().manual_seed(0)  # one generator, passed to every call that draws"""


def md(text: str) -> tuple:
    return ("markdown", text.strip("\n"))


def code(text: str) -> tuple:
    return ("code", text.strip("\n"))


NOTEBOOKS = {}

NOTEBOOKS["01_ebm_contrastive_divergence"] = [
    md(r"""
# 1. Energy-based models and contrastive divergence

An energy-based model is $p_\theta(x) = e^{-E_\theta(x)} / Z_\theta$ with an intractable
$Z_\theta = \int e^{-E_\theta(x)}\,dx$. The gradient of the log-likelihood is

$$\nabla_\theta \log p_\theta(x) = -\nabla_\theta E_\theta(x) + \mathbb{E}_{x' \sim p_\theta}\big[\nabla_\theta E_\theta(x')\big],$$

so maximum likelihood needs samples of the model itself. Contrastive divergence draws them by a
few Langevin steps $x \leftarrow x - \tfrac{\varepsilon}{2}\nabla_x E_\theta(x) + \sqrt{\varepsilon}\,z$
from persistent chains, and minimises $\mathbb{E}_\text{data}[E_\theta] - \mathbb{E}_\text{negatives}[E_\theta]$
(`scorelab.objectives.contrastive_divergence`; docs/lecture.md, section 1).
"""),
    code(SETUP),
    code("""
import scorelab
from scorelab.distributions import get_toy
from scorelab.viz import plot_density

toy = get_toy("eight_gaussians")
x = toy.sample(2000, generator=gen)
model = scorelab.ScoreModel(model="energy", objective="cd", steps=200, eval_every=20, seed=0).fit(x)
"""),
    code("""
bounds = (-3.5, 3.5, -3.5, 3.5)
fig, axes = plt.subplots(1, 2, figsize=(9, 4))
plot_density(axes[0], toy.log_prob, bounds, n=120, title="truth: eight Gaussians")
plot_density(axes[1], lambda p: -model.energy(p), bounds, n=120, title="exp(−E) after 200 CD steps")
fig.tight_layout()
"""),
    md(r"""
**Exercise.** The energy $E(x) = \lVert x - m\rVert^2 / (2s^2)$ in two dimensions has
$Z = 2\pi s^2$. Compute $\log Z$ numerically with `scorelab.evaluation.grid_log_partition`
(the midpoint rule on a box) for $m = (1, -0.5)$, $s = 0.7$, and store it in `log_z`.
"""),
    code("""
from scorelab.evaluation import grid_log_partition

m, s = torch.tensor([1.0, -0.5]), 0.7
log_z = grid_log_partition(lambda p: ((p - m) ** 2).sum(dim=1) / (2 * s**2), (-6, 6, -6, 6), n=400)
"""),
    code("""
closed_form = math.log(2 * math.pi * s**2)
print(f"grid: {log_z:.8f}   closed form: {closed_form:.8f}")
assert abs(log_z - closed_form) < 1e-5, "not yet: check the box and the energy"
print("correct")
"""),
]

NOTEBOOKS["02_score_matching"] = [
    md(r"""
# 2. Score matching and the Fisher divergence

The score $s(x) = \nabla_x \log p(x) = -\nabla_x E(x)$ does not depend on $Z$. Score matching
minimises the Fisher divergence $\tfrac12\mathbb{E}_p\lVert s_\theta(x) - \nabla_x\log p(x)\rVert^2$, which
integration by parts (Hyvärinen 2005) turns into a loss computable from data alone:

$$J(s_\theta) = \mathbb{E}_p\Big[\tfrac12\lVert s_\theta(x)\rVert^2 + \operatorname{tr}\nabla_x s_\theta(x)\Big]
= \tfrac12\mathbb{E}_p\lVert s_\theta - \nabla\log p\rVert^2 - \tfrac12\mathbb{E}_p\lVert\nabla\log p\rVert^2 .$$

The model may be an energy network (score $-\nabla_x E_\theta$, a conservative field) or a score
network that outputs the vector directly (docs/lecture.md, section 2).
"""),
    code(SETUP),
    code("""
import scorelab
from scorelab.distributions import get_toy
from scorelab.viz import plot_score_field

toy = get_toy("eight_gaussians")
x = toy.sample(2000, generator=gen)
model = scorelab.ScoreModel(model="score", objective="ssm", steps=300, seed=0).fit(x)
bounds = (-3, 3, -3, 3)
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
plot_score_field(axes[0], toy.score, 0.0, bounds, n=17, title="true score ∇log p")
plot_score_field(axes[1], model.score_fn, 0.0, bounds, n=17, title="score network, 300 sliced-SM steps")
fig.tight_layout()
"""),
    md(r"""
Every arrow points uphill, towards a mode; the field vanishes at the modes. Score matching only
sees the data, so the learned field is right near them and loose in between.

**Exercise.** For data $x \sim \mathcal N(0, I_d)$ and the candidate field $s_\tau(x) = -x/\tau^2$,
the loss has the closed form $J(\tau) = d/(2\tau^4) - d/\tau^2$ (minimised at $\tau = 1$, the
true score). Estimate $J(\tau)$ for $d = 3$ and a few $\tau$ with
`scorelab.objectives.exact_score_matching` on 20,000 samples; store the estimates in `estimates`.
"""),
    code("""
from scorelab.objectives import exact_score_matching

d, taus = 3, [0.7, 1.0, 1.5, 2.5]
data = torch.randn(20000, d, generator=gen)
estimates = [exact_score_matching(lambda y, sigma, t=t: -y / t**2, data).detach().item() for t in taus]
"""),
    code("""
for t, est in zip(taus, estimates):
    closed = d / (2 * t**4) - d / t**2
    se = math.sqrt(2 * d / (4 * t**8) / len(data))  # sd of ½‖x‖²/τ⁴ over the samples, / √n
    print(f"τ = {t}: estimate {est:.4f}, closed form {closed:.4f}, {abs(est - closed) / se:.1f} standard errors")
    assert abs(est - closed) < 4 * se
assert min(zip(estimates, taus))[1] == 1.0, "the true score should score best"
print("correct")
"""),
]

NOTEBOOKS["03_exact_sliced_denoising"] = [
    md(r"""
# 3. Exact, sliced and denoising score matching

* **exact**: $\operatorname{tr}\nabla_x s_\theta(x)$ is the sum of $d$ Jacobian diagonal entries: $d$ backward passes;
* **sliced** (Song et al. 2019): one random projection, $v^\top\nabla_x(v^\top s_\theta(x))$ with $\mathbb E[vv^\top] = I$;
* **denoising** (Vincent 2011): no derivative of $s_\theta$ at all,
  $\tfrac12\mathbb{E}\lVert s_\theta(x + \sigma z) + z/\sigma\rVert^2$, minimised by $\nabla\log p_\sigma$.

(docs/lecture.md, section 3.)
"""),
    code(SETUP),
    code("""
from scorelab.experiments.sliced_vs_exact import LABELS, time_training_step

dims, methods = (2, 16, 64), ("esm_vmap", "ssm", "dsm")
ms = {m: [1000 * time_training_step(m, d, seed=0, repeats=3, warmup=1)["median"] for d in dims] for m in methods}
fig, ax = plt.subplots(figsize=(5, 3.5))
for m in methods:
    ax.plot(dims, ms[m], "o-", label=LABELS[m])
ax.set(xscale="log", yscale="log", xlabel="dimension d", ylabel="ms per training step")
ax.legend()
"""),
    md(r"""
**Exercise.** For data $x \sim \mathcal N(0, I_d)$ the noisy density is $p_\sigma = \mathcal N(0, (1+\sigma^2) I_d)$,
whose score $-x/(1+\sigma^2)$ minimises denoising score matching, with minimum
$d / (2\sigma^2(1+\sigma^2))$. Evaluate `scorelab.objectives.denoising_score_matching` at that score
for $d = 4$, $\sigma = 0.5$ on 40 batches of 2,000 and store the 40 values in `losses`.
"""),
    code("""
from scorelab.objectives import denoising_score_matching

d, sigma = 4, 0.5
optimum = lambda y, s: -y / (1 + sigma**2)
losses = torch.tensor([float(denoising_score_matching(optimum, torch.randn(2000, d, generator=gen), sigma, generator=gen))
                       for _ in range(40)])
"""),
    code("""
closed = d / (2 * sigma**2 * (1 + sigma**2))
mean, se = float(losses.mean()), float(losses.std() / math.sqrt(len(losses)))
print(f"Monte Carlo {mean:.4f} ± {se:.4f}, closed form {closed:.4f}")
assert abs(mean - closed) < 4 * se
print("correct")
"""),
]

NOTEBOOKS["04_tweedie"] = [
    md(r"""
# 4. Tweedie's formula: the score is a denoiser

For $\tilde x = x + \sigma z$, $z \sim \mathcal N(0, I)$, the posterior mean of the clean point is

$$\mathbb E[x \mid \tilde x] = \tilde x + \sigma^2\,\nabla_{\tilde x}\log p_\sigma(\tilde x)$$

(Efron 2011). So a model of the noisy score is a denoiser, $D(x, \sigma) = x + \sigma^2 s(x, \sigma)$:
what the ODE samplers speak (`scorelab.samplers.tweedie_denoise`).
"""),
    code(SETUP),
    code("""
from scorelab.distributions import get_toy
from scorelab.samplers import tweedie_denoise
from scorelab.viz import plot_samples

toy, sigma = get_toy("eight_gaussians"), 0.5
clean = toy.sample(1500, generator=gen)
noisy = clean + sigma * torch.randn(clean.shape, generator=gen)
denoised = tweedie_denoise(toy.score, noisy, sigma)  # the exact score of p_σ
bounds = (-3.5, 3.5, -3.5, 3.5)
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, pts, title in zip(axes, (clean, noisy, denoised), ("clean x", f"noisy x + σz, σ = {sigma}", "Tweedie: E[x | x̃]")):
    plot_samples(ax, pts, bounds=bounds, title=title, legend=False)
fig.tight_layout()
"""),
    md(r"""
The posterior mean pulls each noisy point towards the modes; points half-way between two modes
land between them (the mean of a two-peaked posterior).

**Exercise.** For a single Gaussian $x \sim \mathcal N(\mu, s^2 I)$ the posterior mean is
$\mu + \frac{s^2}{s^2 + \sigma^2}(\tilde x - \mu)$. Build the Gaussian with
`scorelab.distributions.GaussianMixture` ($\mu = (2, -1)$, $s = 0.8$), denoise 1,000 noisy points at
$\sigma = 0.6$ with `tweedie_denoise`, and store the result in `answer` (inputs in `x_noisy`).
"""),
    code("""
from scorelab.distributions import GaussianMixture

mu, s, sigma = torch.tensor([2.0, -1.0]), 0.8, 0.6
gauss = GaussianMixture([mu.tolist()], [1.0], stds=s)
x_noisy = gauss.sample(1000, generator=gen) + sigma * torch.randn(1000, 2, generator=gen)
answer = tweedie_denoise(gauss.score, x_noisy, sigma)
"""),
    code("""
closed = mu + s**2 / (s**2 + sigma**2) * (x_noisy - mu)
print("largest difference:", float((answer - closed).abs().max()))
assert torch.allclose(answer, closed, atol=1e-5)
print("correct")
"""),
]

NOTEBOOKS["05_langevin_failures"] = [
    md(r"""
# 5. Langevin dynamics, and its three failures

Given a score, Langevin dynamics samples its density:
$x \leftarrow x + \tfrac{\varepsilon}{2} s(x) + \sqrt{\varepsilon}\,z$, $z \sim \mathcal N(0, I)$.
With a learned score it fails three ways (docs/lecture.md, section 4):

1. **manifold data**: $\nabla\log p$ does not exist off a low-dimensional manifold, and the clean loss has no floor;
2. **low-density regions**: the loss weights errors by the data density, so the field is wrong where there are no data;
3. **mixture weights**: between separated modes the chains keep the split of their starts.
"""),
    code(SETUP),
    code("""
import scorelab
from scorelab.distributions import get_toy

circle = get_toy("curve", dim=2)  # a circle of radius 2, no noise: a 1-D manifold in the plane
pts = circle.sample(2000, generator=gen)
runs = {name: scorelab.ScoreModel(steps=300, eval_every=25, lr=5e-3, seed=0, **opts).fit(pts)
        for name, opts in {"sliced SM, clean data": {"objective": "ssm"},
                           "denoising SM, σ = 0.1": {"objective": "dsm", "sigma": 0.1}}.items()}
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
for ax, (name, m) in zip(axes, runs.items()):
    ax.plot([h["step"] for h in m.history_], [h["loss"] for h in m.history_])
    ax.set(title=name, xlabel="step", ylabel="training loss")
fig.tight_layout()
"""),
    md("1. Sliced score matching's loss keeps falling: nothing stops an ever steeper pull into the circle. The denoising loss levels off."),
    code("""
from scorelab.experiments.low_density import error_map

lecture = get_toy("lecture")
dsm = scorelab.ScoreModel(objective="dsm", sigma=0.1, steps=300, seed=0).fit(lecture.sample(3000, generator=gen))
n = 61
ys, xs = torch.meshgrid(torch.linspace(-10, 10, n), torch.linspace(-10, 10, n), indexing="ij")
grid = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
maps = error_map(dsm, lecture, grid, 0.1)
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
axes[0].imshow(maps["log_density"].reshape(n, n), origin="lower", extent=(-10, 10, -10, 10), vmin=-60)
axes[0].set_title("log p_σ")
im = axes[1].imshow(maps["error"].reshape(n, n).log10(), origin="lower", extent=(-10, 10, -10, 10), cmap="magma")
axes[1].set_title("log₁₀ ‖s_θ − ∇log p_σ‖")
fig.colorbar(im, ax=axes[1])
"""),
    md("2. The learned score is accurate at the two modes and wrong everywhere the density is small."),
    code("""
from scorelab.evaluation import mode_fractions
from scorelab.samplers import langevin

start = 16 * torch.rand(2000, 2, generator=gen) - 8  # uniform on [−8, 8]², as in the lecture
plain = langevin(lecture.score, start, step_size=0.1, n_steps=300, generator=gen)  # the EXACT score
print("fraction in (5, 5) and (−5, −5):", mode_fractions(plain, lecture.means).tolist(), "(truth 0.8, 0.2)")
"""),
    md(r"""
3. Even with the exact score, plain Langevin keeps about the half of its starts that lie nearer
to each mode: the failure is the sampler's.

**Exercise.** Langevin with a finite step is biased. For $p = \mathcal N(0, s^2)$ in one dimension the
chain $x \leftarrow x - \frac{\varepsilon}{2s^2}x + \sqrt\varepsilon z$ is Gaussian with stationary variance
$s^2 / (1 - \varepsilon/(4s^2))$, not $s^2$. Run `scorelab.samplers.langevin` with $s = 1$, $\varepsilon = 0.5$,
300 steps, 20,000 chains started at 0, and store the final samples in `chains`.
"""),
    code("""
s, eps = 1.0, 0.5
chains = langevin(lambda y, sigma: -y / s**2, torch.zeros(20000, 1), step_size=eps, n_steps=300, generator=gen)
"""),
    code("""
closed = s**2 / (1 - eps / (4 * s**2))
var = float(chains.var())
se = closed * math.sqrt(2 / len(chains))  # standard error of a Gaussian sample variance
print(f"sample variance {var:.4f}, closed form {closed:.4f} (± {se:.4f}); the target's is {s**2}")
assert abs(var - closed) < 4 * se and abs(var - s**2) > 4 * se
print("correct")
"""),
]

NOTEBOOKS["06_annealed_langevin"] = [
    md(r"""
# 6. Noise-conditional scores and annealed Langevin

One network $s_\theta(x, \sigma)$ learns the scores of $p_\sigma$ at noise levels $\sigma_1 > \dots > \sigma_L$
(NCSN, Song & Ermon 2019), trained by
$\sum_i \sigma_i^2\,\mathbb E\lVert s_\theta(x + \sigma_i z, \sigma_i) + z/\sigma_i\rVert^2$.
Annealed Langevin runs $T$ steps at each level with step $\alpha_i = \varepsilon\,\sigma_i^2/\sigma_L^2$,
starting where the previous level ended, and finishes with Tweedie's step. At large $\sigma$ the
noise joins the modes, so the chains can still move between them and settle in the right proportion.
"""),
    code(SETUP),
    code("""
from scorelab.distributions import get_toy
from scorelab.evaluation import mode_fractions
from scorelab.samplers import annealed_langevin, geometric_sigmas

mix = get_toy("lecture")  # 0.8·N((5, 5), I) + 0.2·N((−5, −5), I)
sigmas = geometric_sigmas(20.0, 0.05, 17)
record = {}
def per_level(state):  # the callback sees each step's particles and σ; keep each level's last
    if state["i"] % 200 == 199:
        record[state["sigma"]] = float(mode_fractions(state["x"], mix.means)[0])
x = annealed_langevin(mix.score, sigmas[0] * torch.randn(2000, 2, generator=gen), sigmas,
                      step_size=0.35 * float(sigmas[-1]) ** 2, steps_per_level=200, generator=gen, callback=per_level)
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(list(record), list(record.values()), "o-")
ax.axhline(0.8, color="tab:red", ls="--", label="truth 0.8")
ax.set(xscale="log", xlabel="σ of the level (the chains run left to right)", ylabel="fraction nearer (5, 5)")
ax.invert_xaxis(); ax.legend()
"""),
    md("The split is decided at the middle levels, while the noise still joins the two modes; at the smallest σ it no longer changes."),
    code("""
import scorelab

model = scorelab.ScoreModel(objective="ncsn", steps=600, seed=0).fit(mix.sample(4000, generator=gen))
learned = model.sample(1000, random_state=0, sampler="annealed", steps=30)
print("a learned score (600 steps), annealed Langevin: fraction in (5, 5) =", float(mode_fractions(learned, mix.means)[0]))
"""),
    md(r"""
**Exercise.** Driven by the exact score, annealed Langevin should recover the weight 0.8 to within
its sampling error, $\sqrt{0.8 \cdot 0.2 / n}$ for $n$ independent chains (plain Langevin from a box
gives about 0.5). Store the fraction of the 2,000 samples `x` above that lie nearer to (5, 5)
in `fraction`.
"""),
    code("""
fraction = float(mode_fractions(x, mix.means)[0])
"""),
    code("""
se = math.sqrt(0.8 * 0.2 / len(x))
print(f"fraction {fraction:.3f}, truth 0.8, {abs(fraction - 0.8) / se:.1f} standard errors")
assert abs(fraction - 0.8) < 4 * se
print("correct")
"""),
]

NOTEBOOKS["07_probability_flow_ode"] = [
    md(r"""
# 7. The probability-flow ODE and exact likelihoods

The same noise-conditional score defines a deterministic sampler (Song et al. 2021; Karras et al. 2022):

$$\frac{dx}{d\sigma} = -\sigma\,\nabla_x\log p_\sigma(x),$$

which carries $p_{\sigma_\max}$ to $p_{\sigma_\min}$. Heun's method on EDM's schedule needs about 35
score evaluations. Being a flow, it also gives exact likelihoods by the change of variables,

$$\log p_{\sigma_\min}(x) = \log p_{\sigma_\max}(x(\sigma_\max)) + \int_{\sigma_\min}^{\sigma_\max} \nabla\cdot f(x(\sigma), \sigma)\,d\sigma,
\qquad f = -\sigma\,\nabla\log p_\sigma .$$
"""),
    code(SETUP),
    code("""
from scorelab.distributions import get_toy
from scorelab.samplers import heun, karras_sigmas
from scorelab.viz import plot_samples

mix = get_toy("eight_gaussians")
sigma_min, sigma_max = 0.01, 40.0
schedule = karras_sigmas(18, sigma_min, sigma_max, append_zero=True)
x, info = heun(mix.score, sigma_max * torch.randn(1000, 2, generator=gen), schedule, trajectory=True, return_info=True)
print("score evaluations:", info.nfe)
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for k in range(40):
    axes[0].plot(info.trajectory[:, k, 0].clamp(-6, 6), info.trajectory[:, k, 1].clamp(-6, 6), lw=0.7)
axes[0].set(xlim=(-6, 6), ylim=(-6, 6), title="40 ODE trajectories (clipped to the view)")
plot_samples(axes[1], x, mix.sample(1000, generator=gen), bounds=(-3, 3, -3, 3), title="Heun, 35 NFE")
fig.tight_layout()
"""),
    md(r"""
**Exercise.** Check the change of variables exactly. `scorelab.evaluation.ode_log_likelihood` integrates the
flow from $\sigma_\min$ to $\sigma_\max$ and, with `return_info=True`, returns the end points
`x_sigma_max` and the integral `delta_log_prob`. Add the **true** $\log p_{\sigma_\max}$ at the end points
(the mixture is exact at every σ) to the integral, for 200 data points; store it in `log_p`.
"""),
    code("""
from scorelab.evaluation import ode_log_likelihood

points = mix.sample(200, generator=gen).double()
_, out = ode_log_likelihood(mix.score, points, sigma_min=sigma_min, sigma_max=sigma_max, exact_trace=True,
                            rtol=1e-7, atol=1e-7, return_info=True)
log_p = mix.log_prob(out["x_sigma_max"], sigma_max) + out["delta_log_prob"]
"""),
    code("""
closed = mix.log_prob(points, sigma_min)
print("largest error (nats):", float((log_p - closed).abs().max()))
assert torch.allclose(log_p, closed, atol=1e-4)
print("correct")
"""),
]

NOTEBOOKS["08_images"] = [
    md(r"""
# 8. Images

The same objectives and samplers work on images: the network becomes a U-Net
(`scorelab.nn.ScoreUNet`) with EDM's preconditioning, and the noise levels follow NCSNv2's rules
(σ_max about the largest distance between two images). Quality is judged by the Fréchet
distance between classifier features of samples and real images,
$\lVert\mu_1 - \mu_2\rVert^2 + \operatorname{tr}\big(\Sigma_1 + \Sigma_2 - 2(\Sigma_1\Sigma_2)^{1/2}\big)$
(docs/images.md has the full runs: minutes, not seconds).
"""),
    code(SETUP),
    code("""
import scorelab
from scorelab.data import load_data
from scorelab.viz import plot_image_grid

digits = load_data("digits")  # the 8×8 digits that scikit-learn ships
model = scorelab.ScoreModel(steps=150, seed=0).fit(digits)
samples = model.sample(16, random_state=0, sampler="heun")
real = digits.x[:16]
sigma = 0.3
noisy = real + sigma * torch.randn(real.shape, generator=gen)
denoised = noisy + sigma**2 * model.score_fn(noisy, sigma)  # Tweedie with the learned score
fig, axes = plt.subplots(1, 4, figsize=(14, 4))
for ax, images, title in zip(axes, (real, noisy, denoised, samples),
                             ("real digits", f"noisy, σ = {sigma}", "denoised by the model", "samples after 150 steps")):
    plot_image_grid(ax, images.clamp(0, 1), nrow=4, title=title)
"""),
    md(r"""
150 steps make a denoiser that already works and samples that are only blobs; the defaults
(6,000 steps here) take minutes.

**Exercise.** For two Gaussians with equal covariances the Fréchet distance is $\lVert\mu_1 - \mu_2\rVert^2$.
Compute `scorelab.evaluation.frechet_distance` between 20,000 draws of $\mathcal N(0, I_4)$ and of
$\mathcal N(m, I_4)$ with $m = (1, 0.5, 0, 0)$; store it in `fd`.
"""),
    code("""
from scorelab.evaluation import frechet_distance

m = torch.tensor([1.0, 0.5, 0.0, 0.0])
fd = frechet_distance(torch.randn(20000, 4, generator=gen), m + torch.randn(20000, 4, generator=gen))
"""),
    code("""
closed = float((m**2).sum())
print(f"Fréchet distance {fd:.4f}, closed form {closed:.4f}")
assert abs(fd - closed) < 0.05  # the estimate's error is O(d/n) plus the means' sampling error
print("correct")
"""),
]

NOTEBOOKS["09_controllable_generation"] = [
    md(r"""
# 9. Choosing what to sample: labels and guidance

A class-conditional score network learns $s(x, \sigma \mid y) \approx \nabla_x \log p_\sigma(x \mid y)$; with
its labels replaced by a null class 10% of the time (label dropout), the same network also learns the
unconditional $s(x, \sigma)$. Two ways to sample class $y$ more sharply (`scorelab.samplers.guidance`):

$$\text{classifier guidance:}\quad \nabla_x \log p_\sigma(x) + \gamma\,\nabla_x \log p_\sigma(y \mid x),\qquad
\text{classifier-free:}\quad (1 + w)\,s(x, \sigma \mid y) - w\,s(x, \sigma).$$

With $\gamma = 1$ classifier guidance is Bayes' rule: $\nabla_x \log p_\sigma(x \mid y) = \nabla_x \log p_\sigma(x) + \nabla_x \log p_\sigma(y \mid x)$.
Classifier-free guidance with weight $w$ follows the score of $p(x \mid y)^{1+w}\,p(x)^{-w}$.
"""),
    code(SETUP),
    code("""
import scorelab
from scorelab.distributions import get_toy
from scorelab.evaluation import mode_fractions
from scorelab.viz import plot_samples

mix = get_toy("eight_gaussians")           # each of the 8 components is a class
model = scorelab.ScoreModel(steps=600, seed=0).fit("toy:eight_gaussians", y=True, progress=False)
x = model.sample(100, random_state=0, y="all")            # 100 of each class, in model.classes_ order
print("classes:", model.classes_)
print("class 3's samples nearest each component:", mode_fractions(x[300:400], mix.means).numpy().round(2))
fig, axes = plt.subplots(1, 2, figsize=(9, 4))
plot_samples(axes[0], x, mix.sample(800, generator=gen), bounds=(-3, 3, -3, 3), title="all classes")
plot_samples(axes[1], x[300:400], bounds=(-3, 3, -3, 3), title="class 3 only")
fig.tight_layout()
"""),
    md(r"""
**Exercise.** Check Bayes' rule at $\sigma = 0.5$ with the mixture's exact quantities. `mix.log_posterior(x, sigma)`
is $\log p_\sigma(k \mid x)$ for every component $k$ (shape (n, 8)). Build the classifier-guided score of
class 3 by hand, `mix.score(x, sigma)` plus the gradient of the log-posterior of class 3 with respect to x
(use `torch.autograd.grad`), and store it in `guided`.
"""),
    code("""
points = 3 * torch.randn(500, 2, generator=gen)
sigma = torch.full((500,), 0.5)
xi = points.clone().requires_grad_(True)
(grad,) = torch.autograd.grad(mix.log_posterior(xi, sigma)[:, 3].sum(), xi)
guided = mix.score(points, sigma) + grad
"""),
    code("""
exact = mix.component(3).score(points, sigma)    # the conditional score in closed form
print("largest difference:", float((guided - exact).abs().max()))
assert torch.allclose(guided, exact, atol=1e-4)
print("correct")
"""),
]


def notebook(cells):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src)
                for kind, src in cells]
    for i, cell in enumerate(nb.cells):
        cell.id = f"c{i:02d}"  # stable ids: rewriting an unchanged notebook changes nothing
    return nb


def render(name: str) -> str:
    import nbformat

    return nbformat.writes(notebook(NOTEBOOKS[name])) + "\n"


def execute(path: Path, out_dir: Path | None = None, timeout: int = 300):
    """Run the notebook at ``path`` in a fresh kernel (its folder as working directory); return
    it with outputs, and write it to ``out_dir`` if given. Raises on the first failing cell."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out_dir / path.name)
    return nb


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="fail if a stored notebook is out of date")
    group.add_argument("--execute", metavar="OUT_DIR", type=Path, help="run the notebooks, write executed copies")
    args = parser.parse_args(argv)
    if args.execute:
        for name in NOTEBOOKS:
            print(f"running {name}.ipynb", flush=True)
            execute(HERE / f"{name}.ipynb", args.execute)
        print(f"executed notebooks in {args.execute}/")
        return 0
    stale = []
    for name in NOTEBOOKS:
        path, text = HERE / f"{name}.ipynb", render(name)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date (run python notebooks/build.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
