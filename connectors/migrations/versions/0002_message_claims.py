"""messages.claimed_at: which gateway answers a stored inbound, as a lease

Revision ID: 0002_message_claims
Revises: 6761d6899ed5
Create Date: 2026-11-26 08:15:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_message_claims'
down_revision = '6761d6899ed5'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('claimed_at')
