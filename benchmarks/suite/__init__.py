"""The benchmark suite behind ``python -m benchmarks``: real clients' patterns, castedge
beside nginx on the same files in the same run.

* :mod:`.upstream`: moto's S3 behind a shaping proxy, in a process of its own;
* :mod:`.measure`: what a row of figures holds and how CPU is counted;
* :mod:`.podcast`: podcast apps (Apple's and Spotify's request sequences) and the
  release storm they make;
* :mod:`.nginx`: nginx as the suite runs it (static files, a caching proxy, a fixed
  redirect);
* :mod:`.scenarios`: what the scenarios share, and seeking, HLS and the redirects;
* :mod:`.storm`: the cold-cache release storm, upstream bytes counted;
* :mod:`.soak`: everything at once for ``--duration``, and ``--total`` through a node;
* :mod:`.report`: the Markdown table, the JSON and the plots;
* :mod:`.cli`: the options and the order things run in.
"""
