"""How much bias it takes: tipping points, E-values, the latent factor.

`tipping` finds, by stochastic root-finding on common random numbers, the
magnitude of each mechanism (alone, with others, and on a common scale) at which
the design reports the paper's result under the null, and holds the closed-form
E-values (VanderWeele & Ding 2017) with their meaning in the world's latent u.
Builds on the runner; the report layer draws and writes what it finds.
"""
