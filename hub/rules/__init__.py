"""Rule scripts: the Rhai interpreter that runs judgment rules.

Rule management lives beside it: ``rulesets``, ``versions``, ``testing``, ``deployments`` and
``conflicts``, with ``source``, ``probes``, ``evaluation`` and ``comparison`` as their helpers.
"""
