"""The delivery engine shared by the origin and the edge.

RFC 9110 GET/HEAD with ranges and conditionals, zero-copy sendfile, the disk store
and the single-flight fill.
"""
