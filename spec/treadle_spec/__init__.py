"""treadle_spec: TLA+-style state machines of treadle's protocols.

Each module is one protocol, small enough to review, checked exhaustively by
``treadle_model.check_spec``.
"""
