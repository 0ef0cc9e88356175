"""recordings and follow-up jobs (hotline.recordings, hotline.followup)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('recordings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('call_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.Column('status', sa.Enum('finalised', 'missing', 'purged', name='recording_status', native_enum=False, create_constraint=True, length=17), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('header_only', sa.Boolean(), nullable=False),
    sa.Column('finalised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('transcript', sa.Text(), nullable=False),
    sa.Column('transcribed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('transcribe_error', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_recordings_call_id_calls')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recordings')),
    sa.UniqueConstraint('call_id', name=op.f('uq_recordings_call_id')),
    sa.UniqueConstraint('path', name=op.f('uq_recordings_path'))
    )
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recordings_finalised_at'), ['finalised_at'], unique=False)

    op.create_table('playback_audits',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('recording_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('allowed', sa.Boolean(), nullable=False),
    sa.Column('byte_range', sa.String(length=64), nullable=False),
    sa.Column('remote', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'], name=op.f('fk_playback_audits_recording_id_recordings')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_playback_audits_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_playback_audits'))
    )
    with op.batch_alter_table('playback_audits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_playback_audits_recording_id'), ['recording_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_playback_audits_user_id'), ['user_id'], unique=False)

    op.create_table('followup_jobs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ticket_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'dialing', 'done', 'manual', 'cancelled', name='followup_status', native_enum=False, create_constraint=True, length=17), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_channel_id', sa.String(length=64), nullable=True),
    sa.Column('satisfaction', sa.Enum('satisfied', 'basically_satisfied', 'dissatisfied', name='followup_satisfaction', native_enum=False, create_constraint=True, length=27), nullable=True),
    sa.Column('solved', sa.Boolean(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['line_id'], ['hotline_lines.id'], name=op.f('fk_followup_jobs_line_id_hotline_lines')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_followup_jobs_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_followup_jobs')),
    sa.UniqueConstraint('ticket_id', 'round', name=op.f('uq_followup_jobs_ticket_id_round'))
    )
    with op.batch_alter_table('followup_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_followup_jobs_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_followup_jobs_status'), ['status'], unique=False)

    op.create_table('followup_attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('job_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=32), nullable=False),
    sa.Column('status', sa.Enum('sending', 'answered', 'completed', 'failed', 'lost', name='followup_attempt_status', native_enum=False, create_constraint=True, length=17), nullable=False),
    sa.Column('reason', sa.String(length=128), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['followup_jobs.id'], name=op.f('fk_followup_attempts_job_id_followup_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_followup_attempts')),
    sa.UniqueConstraint('channel_id', name=op.f('uq_followup_attempts_channel_id')),
    sa.UniqueConstraint('job_id', 'number', name=op.f('uq_followup_attempts_job_id_number'))
    )
    with op.batch_alter_table('followup_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_followup_attempts_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('followup_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_followup_attempts_status'))
    op.drop_table('followup_attempts')

    with op.batch_alter_table('followup_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_followup_jobs_status'))
        batch_op.drop_index(batch_op.f('ix_followup_jobs_next_attempt_at'))
    op.drop_table('followup_jobs')

    with op.batch_alter_table('playback_audits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_playback_audits_user_id'))
        batch_op.drop_index(batch_op.f('ix_playback_audits_recording_id'))
    op.drop_table('playback_audits')

    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recordings_finalised_at'))
    op.drop_table('recordings')
