"""The runner behind `python -m experiments` and `python -m benchmarks`, kept out of the library.

One home for the registry (`registry`: entries found from files that follow
the contract, read with `ast`), the command-line plumbing both CLIs share
(`common`: the `--out` check, options, progress with ETA, code versions),
the experiments CLI (`experiments_cli`), the benchmarks CLI (`bench_cli`) and
the gallery (`gallery`, `render`). It lives in the repository next to
`experiments/` and `benchmarks/` and is not installed; the console scripts
`jaxnn-experiments` and `jaxnn-bench` find it through the editable install
(`jaxnn/_cli.py`).
"""
