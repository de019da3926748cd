"""metainv: meta-learned SIREN initialisations for classical inverse-problem solvers.

Reproduces Zhao, "Meta-learning for Solving Inverse Problems". The science lives in this
package (physics, nets, solvers, meta, metrics, report); the Snakemake workflow at the
repository root only wires `metainv <command>` calls together.
"""

__version__ = "0.1.0"
