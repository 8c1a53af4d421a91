"""Side-chain anchoring: a light client of another chainnode chain, misbehaviour evidence,
state and receipt proofs against anchored headers, and packets.

Everything in this package is pure verification logic (sans-IO: no storage, no clock, no
network): callers pass the trusted state, what was submitted and the host chain's time, and
get back the new state or an AnchorError with a stable code. The native system contract
`sys.anchor` (chainnode.exec.anchor) stores the state and calls in here. See docs/sidechains.md.
"""
