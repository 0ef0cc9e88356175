"""agents: softphone extensions, skills, agent state history (hotline.agents)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('agent_profiles',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('extension', sa.String(length=16), nullable=False),
    sa.Column('node', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('length(extension) >= 2', name=op.f('ck_agent_profiles_extension_length')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_agent_profiles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_agent_profiles')),
    sa.UniqueConstraint('extension', name=op.f('uq_agent_profiles_extension'))
    )
    op.create_table('agent_state_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('logged_out', 'ready', 'paused', 'ringing', 'on_call', 'wrap_up', name='agent_state', native_enum=False, create_constraint=True, length=18), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('call_uniqueid', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_agent_state_changes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_state_changes'))
    )
    with op.batch_alter_table('agent_state_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_state_changes_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_agent_state_changes_user_id'), ['user_id', 'id'], unique=False)

    op.create_table('agent_queues',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('penalty', sa.Integer(), nullable=False),
    sa.CheckConstraint('penalty >= 0', name=op.f('ck_agent_queues_penalty_not_negative')),
    sa.ForeignKeyConstraint(['user_id'], ['agent_profiles.user_id'], name=op.f('fk_agent_queues_user_id_agent_profiles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'queue', name=op.f('pk_agent_queues'))
    )
    op.create_table('agent_skills',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('language', 'category', name='skill_kind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.CheckConstraint('level BETWEEN 1 AND 3', name=op.f('ck_agent_skills_level_range')),
    sa.ForeignKeyConstraint(['user_id'], ['agent_profiles.user_id'], name=op.f('fk_agent_skills_user_id_agent_profiles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'kind', 'name', name=op.f('pk_agent_skills'))
    )


def downgrade() -> None:
    op.drop_table('agent_skills')
    op.drop_table('agent_queues')
    with op.batch_alter_table('agent_state_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_state_changes_user_id'))
        batch_op.drop_index(batch_op.f('ix_agent_state_changes_at'))

    op.drop_table('agent_state_changes')
    op.drop_table('agent_profiles')
