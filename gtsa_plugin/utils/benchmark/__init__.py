"""The parts of ``tools/benchmark.py``, one job per module: the machine and
memory (:mod:`.machine`), what is timed (:mod:`.setup`), the interleaved
timing (:mod:`.timing`), the profiler summary (:mod:`.profiling`), the data
pipeline (:mod:`.pipeline`) and the printed table (:mod:`.report`)."""
