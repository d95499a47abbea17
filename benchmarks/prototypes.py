"""The "before" versions of fixes now in ``src/``, kept so that ``hotspots.py`` can still time
the gain: ``FuncGradEnergyScore``, an energy's score −∇ₓE by ``torch.func.grad`` everywhere
(replaced by :class:`scorelab.nn.EnergyScore`, ``torch.autograd.grad`` outside ``torch.func``
transforms, and by the energy network's own hand-written derivatives). Nothing here is
imported by the library; each computes the same quantity as its scorelab counterpart
(``hotspots.py`` checks it).
"""
import torch


# ---------------------------------------------------------------- energy score

class FuncGradEnergyScore:
    """Before: scorelab's energy score −∇ₓE(x, σ) by ``torch.func.grad`` everywhere, replaced by
    :class:`scorelab.nn.EnergyScore` (``torch.autograd.grad`` outside ``torch.func`` transforms)."""

    def __init__(self, energy):
        self.energy = energy

    def __call__(self, x, sigma=None):
        def total_energy(y):
            return self.energy(y, sigma).sum()
        return -torch.func.grad(total_energy)(x)
