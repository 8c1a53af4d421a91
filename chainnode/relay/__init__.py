"""The relayer between two chains: a pure planner (`planner`) and the I/O loop (`loop`)."""
