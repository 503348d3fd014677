"""Which worlds could have produced this paper: likelihood-free inference from reported numbers.

`abc` is the generic machinery on arrays (scaled interval distances, rejection ABC,
local-linear regression adjustment, weighted quantiles, effective sample size,
predictive p-values), with nothing specific to simkit; `fit` turns a paper file
(simkit.paper.file) and a scenario's [priors] into a Monte Carlo study run by the
existing runner into a resumable store (each replicate keeps its prior draws), reads
the evidence numbers back as summaries and returns the posterior of the true HR, the
slope effect and every mechanism, the posterior predictive checks of every reported
number and the Monte Carlo error of the answer.  Only the command line imports this
package; it builds on the runner, the world, the paper and the report layers.
See docs/inference.md.
"""
