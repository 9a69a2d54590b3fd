"""Numerical machinery shared by objectives, samplers and the likelihood: Jacobian traces
(``traces``), the bridge to scipy's ODE solvers (``ode_bridge``) and exact likelihoods through
the probability-flow ODE (``likelihood``)."""
