"""ticket workflow: categories, deadlines, surveys (hotline.tickets)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dispatch_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_dispatch_rules_department_id_departments')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_dispatch_rules_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatch_rules')),
    sa.UniqueConstraint('region_code', 'topic', name=op.f('uq_dispatch_rules_region_code_topic'))
    )
    with op.batch_alter_table('dispatch_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispatch_rules_department_id'), ['department_id'], unique=False)

    op.create_table('ticket_assignments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ticket_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sign_due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_replied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reply_count', sa.Integer(), nullable=False),
    sa.Column('sent_back_count', sa.Integer(), nullable=False),
    sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('return_reason', sa.Text(), nullable=False),
    sa.Column('reopened', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_ticket_assignments_department_id_departments')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_assignments_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_assignments'))
    )
    with op.batch_alter_table('ticket_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_assignments_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_assignments_dispatched_at'), ['dispatched_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_assignments_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticket_escalations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ticket_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_escalations_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_escalations')),
    sa.UniqueConstraint('ticket_id', 'kind', 'due_at', name=op.f('uq_ticket_escalations_ticket_id_kind_due_at'))
    )
    with op.batch_alter_table('ticket_escalations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_escalations_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticket_merges',
    sa.Column('source_ticket_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('target_ticket_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('merged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['source_ticket_id'], ['tickets.id'], name=op.f('fk_ticket_merges_source_ticket_id_tickets')),
    sa.ForeignKeyConstraint(['target_ticket_id'], ['tickets.id'], name=op.f('fk_ticket_merges_target_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('source_ticket_id', name=op.f('pk_ticket_merges'))
    )
    with op.batch_alter_table('ticket_merges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_merges_target_ticket_id'), ['target_ticket_id'], unique=False)

    op.create_table('ticket_surveys',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ticket_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('satisfaction', sa.Enum('satisfied', 'basically', 'dissatisfied', name='survey_satisfaction', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('solved', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_ticket_surveys_department_id_departments')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_surveys_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_surveys'))
    )
    with op.batch_alter_table('ticket_surveys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_surveys_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_surveys_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_surveys_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticket_extensions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ticket_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('assignment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'granted', 'refused', name='extension_status', native_enum=False, create_constraint=True, length=15), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['assignment_id'], ['ticket_assignments.id'], name=op.f('fk_ticket_extensions_assignment_id_ticket_assignments')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_extensions_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_extensions'))
    )
    with op.batch_alter_table('ticket_extensions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_extensions_ticket_id'), ['ticket_id'], unique=False)

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('topic', sa.String(length=64), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('topic')

    with op.batch_alter_table('ticket_extensions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_extensions_ticket_id'))

    op.drop_table('ticket_extensions')
    with op.batch_alter_table('ticket_surveys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_surveys_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_ticket_surveys_department_id'))
        batch_op.drop_index(batch_op.f('ix_ticket_surveys_at'))

    op.drop_table('ticket_surveys')
    with op.batch_alter_table('ticket_merges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_merges_target_ticket_id'))

    op.drop_table('ticket_merges')
    with op.batch_alter_table('ticket_escalations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_escalations_ticket_id'))

    op.drop_table('ticket_escalations')
    with op.batch_alter_table('ticket_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_assignments_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_ticket_assignments_dispatched_at'))
        batch_op.drop_index(batch_op.f('ix_ticket_assignments_department_id'))

    op.drop_table('ticket_assignments')
    with op.batch_alter_table('dispatch_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispatch_rules_department_id'))

    op.drop_table('dispatch_rules')
