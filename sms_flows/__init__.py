"""SMS flows: the keyword grammar (`keywords.py`, a pure parser specified by a table), the
conversation steps (`conversation.py`, pure functions from the sender, the parsed command and
the time to a reply and effects) and their executor (`effects.py`, which carries the effects
out through `models` in the webhook's transaction). They import only `models`; the webhook in
`gateway.sms` stores the text and answers with what they decide.
"""
