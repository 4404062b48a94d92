"""Messages are found by number: an index on (phone, direction, sent_at).

Every send job counts, for each number it texts, the texts the provider accepted for it today
(the per-number caps start from the database when Redis has not seen the number that day), and
receipts, reconciliation and a new member's earlier texts look rows up by number. Without an
index each of those read the whole table: a notice to 100,000 members read it 200 times.
The direction is in the index because SQLite, given 500 numbers and the direction, would
rather walk the (direction, handled) index over every outbound row.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_phone_sent", "messages", ["phone", "direction", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_phone_sent", table_name="messages")
