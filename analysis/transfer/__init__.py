"""Transfer studies: a model trained on one molecule runs MD on similar ones, measured against a reference.

``config`` (the study's YAML schema), ``starts`` and ``conformers`` (start geometries), ``runs``
(the MD runs, in workers or one TorchSim batch), ``run_metrics`` (each run's stability, h(r), spectrum
and NVE verdict), ``finetune_curve``, ``results`` (the typed results, results.json), ``study``
(:func:`~.study.run_transfer` ties them together), ``plots`` and ``report``.
"""
