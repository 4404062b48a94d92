"""SMS flows: the keyword grammar (`keywords.py`, a pure parser specified by a table) and the
conversations a member's texts hold with the branch (`conversation.py`). They import only
`models`; the webhook in `gateway.sms` stores the text and answers with what they decide.
"""
