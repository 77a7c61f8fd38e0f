"""The operator CLI (``ridgeline status|state|kill|reset|pause|resume|positions|orders|deadletters``).

A pure core (:mod:`.targets` resolves where services are, :mod:`.views` turns their answers into
text) and thin I/O (:mod:`.http` for the control plane, :mod:`.deadletters` for Redis); :mod:`.cli`
wires them into argparse subcommands.
"""
