"""Credit applications and explainable credit decisions (issue 10, items 1-3).

``features`` (pure row-wise features of the UCI credit-default layout), ``pd_model`` (the PD
model: training, the checksummed artifact, scoring and TreeSHAP reason codes), ``policy`` (the
documented decision and limit policy), ``models``, ``services``, ``selectors``, ``admin``.
The whole design is written down in ``docs/credit.md``.
"""
