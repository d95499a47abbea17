"""``scorelab playground``: the lecture in the browser, on 127.0.0.1.

Pick a toy or draw points, train a score or energy network with any objective while the loss
curve grows, compare the learned score field with the true one at any σ, and watch plain
Langevin, annealed Langevin and the probability-flow ODE move the same particles, with the
fraction of particles in each mode counted frame by frame; the lecture's failure modes are
presets. ``session.py`` holds the state and calls the library; ``server.py`` is the web server
(Bottle, the ``playground`` extra); ``static/`` is the page (plain JavaScript and canvas).
"""
