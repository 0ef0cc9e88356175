"""core tables: regions, lines, departments, users, sessions, calls, tickets, ticket events

Revision ID: 0001
Revises: 
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def create_append_only_guard(table: str) -> None:
    """The database itself refuses UPDATE and DELETE on an append-only history table."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION hotline_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION hotline_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def drop_append_only_guard(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS hotline_append_only()")
    else:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")


def upgrade() -> None:
    op.create_table('regions',
    sa.Column('code', sa.String(length=6), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('short_name', sa.String(length=32), nullable=False),
    sa.Column('level', sa.Enum('province', 'prefecture', 'county', name='region_level', native_enum=False, create_constraint=True, length=18), nullable=False),
    sa.Column('parent_code', sa.String(length=6), nullable=True),
    sa.CheckConstraint('length(code) = 6', name=op.f('ck_regions_code_six_digits')),
    sa.ForeignKeyConstraint(['parent_code'], ['regions.code'], name=op.f('fk_regions_parent_code_regions')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_regions'))
    )
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_regions_parent_code'), ['parent_code'], unique=False)

    op.create_table('ticket_counters',
    sa.Column('prefix', sa.String(length=4), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('prefix', 'day', name=op.f('pk_ticket_counters'))
    )
    op.create_table('departments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_departments_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_departments')),
    sa.UniqueConstraint('region_code', 'name', name=op.f('uq_departments_region_code_name'))
    )
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_departments_region_code'), ['region_code'], unique=False)

    op.create_table('hotline_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('service_number', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_hotline_lines_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hotline_lines')),
    sa.UniqueConstraint('code', name=op.f('uq_hotline_lines_code')),
    sa.UniqueConstraint('queue', name=op.f('uq_hotline_lines_queue'))
    )
    with op.batch_alter_table('hotline_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hotline_lines_region_code'), ['region_code'], unique=False)

    op.create_table('calls',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('node', sa.String(length=32), nullable=False),
    sa.Column('uniqueid', sa.String(length=64), nullable=False),
    sa.Column('linkedid', sa.String(length=64), nullable=False),
    sa.Column('direction', sa.Enum('inbound', 'outbound', name='call_direction', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=True),
    sa.Column('region_code', sa.String(length=6), nullable=True),
    sa.Column('caller_number', sa.String(length=32), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.Enum('answered', 'abandoned', 'ivr_only', 'emergency', 'transferred', 'message', 'failed', name='call_outcome', native_enum=False, create_constraint=True, length=19), nullable=True),
    sa.ForeignKeyConstraint(['line_id'], ['hotline_lines.id'], name=op.f('fk_calls_line_id_hotline_lines')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_calls_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calls')),
    sa.UniqueConstraint('node', 'linkedid', name=op.f('uq_calls_node_linkedid')),
    sa.UniqueConstraint('node', 'uniqueid', name=op.f('uq_calls_node_uniqueid'))
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calls_caller_number'), ['caller_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_line_id'), ['line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_started_at'), ['started_at'], unique=False)

    op.create_table('line_dids',
    sa.Column('did', sa.String(length=32), nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['line_id'], ['hotline_lines.id'], name=op.f('fk_line_dids_line_id_hotline_lines'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('did', name=op.f('pk_line_dids'))
    )
    with op.batch_alter_table('line_dids', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_line_dids_line_id'), ['line_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.Enum('admin', 'supervisor', 'agent', 'handler', name='user_role', native_enum=False, create_constraint=True, length=18), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role <> 'handler' OR department_id IS NOT NULL", name=op.f('ck_users_handler_has_department')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_users_department_id_departments')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_users_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_region_code'), ['region_code'], unique=False)

    op.create_table('tickets',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.Enum('phone', 'web', 'sms', 'email', 'wechat', 'app', name='ticket_channel', native_enum=False, create_constraint=True, length=14), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('draft', 'accepted', 'rejected', 'dispatched', 'transferred', 'in_progress', 'returned', 'reviewing', 'follow_up', 'closed', 'merged', name='ticket_status', native_enum=False, create_constraint=True, length=19), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('citizen_name', sa.String(length=64), nullable=False),
    sa.Column('contact_number', sa.String(length=32), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_tickets_created_by_id_users')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_tickets_department_id_departments')),
    sa.ForeignKeyConstraint(['line_id'], ['hotline_lines.id'], name=op.f('fk_tickets_line_id_hotline_lines')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_tickets_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tickets')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_tickets_idempotency_key')),
    sa.UniqueConstraint('number', name=op.f('uq_tickets_number'))
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tickets_contact_number'), ['contact_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_status'), ['status'], unique=False)

    op.create_table('web_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_web_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_web_sessions'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_web_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('ticket_calls',
    sa.Column('ticket_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('call_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_ticket_calls_call_id_calls')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_calls_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('ticket_id', 'call_id', name=op.f('pk_ticket_calls'))
    )
    with op.batch_alter_table('ticket_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_calls_call_id'), ['call_id'], unique=False)

    op.create_table('ticket_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ticket_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.Enum('draft', 'accepted', 'rejected', 'dispatched', 'transferred', 'in_progress', 'returned', 'reviewing', 'follow_up', 'closed', 'merged', name='from_status', native_enum=False, create_constraint=True, length=19), nullable=True),
    sa.Column('to_status', sa.Enum('draft', 'accepted', 'rejected', 'dispatched', 'transferred', 'in_progress', 'returned', 'reviewing', 'follow_up', 'closed', 'merged', name='to_status', native_enum=False, create_constraint=True, length=19), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_ticket_events_actor_id_users')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_events_ticket_id_tickets'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_events'))
    )
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_events_ticket_id'), ['ticket_id', 'id'], unique=False)
    create_append_only_guard('ticket_events')



def downgrade() -> None:
    drop_append_only_guard('ticket_events')
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_events_ticket_id'))

    op.drop_table('ticket_events')
    with op.batch_alter_table('ticket_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_calls_call_id'))

    op.drop_table('ticket_calls')
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_user_id'))
        batch_op.drop_index(batch_op.f('ix_web_sessions_expires_at'))

    op.drop_table('web_sessions')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tickets_status'))
        batch_op.drop_index(batch_op.f('ix_tickets_region_code'))
        batch_op.drop_index(batch_op.f('ix_tickets_due_at'))
        batch_op.drop_index(batch_op.f('ix_tickets_department_id'))
        batch_op.drop_index(batch_op.f('ix_tickets_created_at'))
        batch_op.drop_index(batch_op.f('ix_tickets_contact_number'))

    op.drop_table('tickets')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_region_code'))
        batch_op.drop_index(batch_op.f('ix_users_department_id'))

    op.drop_table('users')
    with op.batch_alter_table('line_dids', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_line_dids_line_id'))

    op.drop_table('line_dids')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calls_started_at'))
        batch_op.drop_index(batch_op.f('ix_calls_line_id'))
        batch_op.drop_index(batch_op.f('ix_calls_caller_number'))

    op.drop_table('calls')
    with op.batch_alter_table('hotline_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hotline_lines_region_code'))

    op.drop_table('hotline_lines')
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_departments_region_code'))

    op.drop_table('departments')
    op.drop_table('ticket_counters')
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_regions_parent_code'))

    op.drop_table('regions')
