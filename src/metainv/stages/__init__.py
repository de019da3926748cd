"""Stage runners: what one workflow rule runs, one module and one function per stage.

A stage reads its input files, calls the algorithm layer (physics, nets, solvers, meta,
metrics) and writes its output files. The rule, the CLI command and the function share one
name:

=================  =================  =========================================================
rule               command            function
=================  =================  =========================================================
``meta_train``     ``meta-train``     :func:`metainv.stages.meta_train.meta_train`
``train_denoiser`` ``train-denoiser`` :func:`metainv.stages.train_denoiser.train_denoiser`
``tune_classical`` ``tune-classical`` :func:`metainv.stages.tune_classical.tune_classical`
``train_unet``     ``train-unet``     :func:`metainv.stages.train_unet.train_unet`
``train_unrolled`` ``train-unrolled`` :func:`metainv.stages.train_unrolled.train_unrolled`
``reconstruct``    ``reconstruct``    :func:`metainv.stages.reconstruct.reconstruct` (every method,
                                      :mod:`metainv.reconstructors`)
``evaluate``       ``evaluate``       :func:`metainv.stages.evaluate.evaluate`
``table``          ``table``          :func:`metainv.stages.report.table`
``figure``         ``figure``         :func:`metainv.stages.report.figure`
``claims``         ``claims``         :func:`metainv.stages.claims.claims`
=================  =================  =========================================================

Arrows point down only: stages import the algorithm layer and the plumbing (``config``,
``data``, ``recon``, ``reconstructors``, ``train``, ``report``, ...); no stage imports
another stage and nothing below imports a stage (``tests/test_layering.py``). Modules are
imported lazily by the CLI, so ``metainv --help`` does not load torch.
"""
