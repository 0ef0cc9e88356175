"""queue: live queue statistics per day, virtual hold (hotline.queue)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('queue_calls',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('node', sa.String(length=32), nullable=False),
    sa.Column('uniqueid', sa.String(length=64), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('caller_number', sa.String(length=32), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.Enum('waiting', 'answered', 'abandoned', 'left', 'lost', name='queue_outcome', native_enum=False, create_constraint=True, length=17), nullable=False),
    sa.Column('wait_seconds', sa.Integer(), nullable=True),
    sa.Column('talk_seconds', sa.Integer(), nullable=True),
    sa.Column('member', sa.String(length=128), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_calls')),
    sa.UniqueConstraint('node', 'uniqueid', 'queue', name=op.f('uq_queue_calls_node_uniqueid_queue'))
    )
    with op.batch_alter_table('queue_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_queue_calls_day'), ['day', 'queue'], unique=False)

    op.create_table('virtual_holds',
    sa.Column('task_id', BIG_ID, nullable=False),
    sa.Column('node', sa.String(length=32), nullable=False),
    sa.Column('uniqueid', sa.String(length=64), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('estimated_wait', sa.Integer(), nullable=False),
    sa.Column('ahead', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['callback_tasks.id'], name=op.f('fk_virtual_holds_task_id_callback_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id', name=op.f('pk_virtual_holds')),
    sa.UniqueConstraint('node', 'uniqueid', name=op.f('uq_virtual_holds_node_uniqueid'))
    )
    op.create_table('callback_attempts',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('task_id', BIG_ID, nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('node', sa.String(length=32), nullable=False),
    sa.Column('channel_id', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.Enum('sent', 'answered', 'failed', 'unknown', name='callback_attempt_outcome', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('reason', sa.String(length=128), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['task_id'], ['callback_tasks.id'], name=op.f('fk_callback_attempts_task_id_callback_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callback_attempts')),
    sa.UniqueConstraint('channel_id', name=op.f('uq_callback_attempts_channel_id')),
    sa.UniqueConstraint('task_id', 'attempt', name=op.f('uq_callback_attempts_task_id_attempt'))
    )


def downgrade() -> None:
    op.drop_table('callback_attempts')
    op.drop_table('virtual_holds')
    with op.batch_alter_table('queue_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queue_calls_day'))
    op.drop_table('queue_calls')
