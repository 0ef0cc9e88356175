"""ivr call fields, emergency marks, callback tasks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 16:55:41.865508
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op



revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('callback_tasks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.Enum('abandoned', 'message', 'virtual_hold', name='callback_kind', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('status', sa.Enum('pending', 'dialing', 'done', 'failed', 'cancelled', name='callback_status', native_enum=False, create_constraint=True, length=17), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=True),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('call_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('ticket_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_callback_tasks_call_id_calls')),
    sa.ForeignKeyConstraint(['line_id'], ['hotline_lines.id'], name=op.f('fk_callback_tasks_line_id_hotline_lines')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_callback_tasks_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callback_tasks')),
    sa.UniqueConstraint('kind', 'call_id', name=op.f('uq_callback_tasks_kind_call_id'))
    )
    with op.batch_alter_table('callback_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_callback_tasks_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_callback_tasks_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_callback_tasks_status'), ['status'], unique=False)

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ivr_choice', sa.String(length=16), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('transcript', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('category', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('emergency_service', sa.String(length=3), nullable=True))

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('emergency_service', sa.String(length=3), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('emergency_service')

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('emergency_service')
        batch_op.drop_column('category')
        batch_op.drop_column('transcript')
        batch_op.drop_column('ivr_choice')

    with op.batch_alter_table('callback_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_callback_tasks_status'))
        batch_op.drop_index(batch_op.f('ix_callback_tasks_due_at'))
        batch_op.drop_index(batch_op.f('ix_callback_tasks_created_at'))

    op.drop_table('callback_tasks')
