"""Which database errors mean "a concurrent transaction won: run yours again"."""

# PostgreSQL's SQLSTATEs: serialization_failure, deadlock_detected.
POSTGRES_CONFLICTS = frozenset({"40001", "40P01"})
# MySQL/MariaDB error numbers: ER_LOCK_DEADLOCK (also what a Galera certification failure
# reports at commit: another node committed a conflicting write first) and
# ER_LOCK_WAIT_TIMEOUT (innodb_lock_wait_timeout passed waiting for a row lock).
MYSQL_CONFLICTS = frozenset({1213, 1205})


def is_transient_conflict(error: BaseException | None) -> bool:
    """Tell whether a driver's error is a lost conflict the server rolled back.

    ``error`` is the DBAPI exception (SQLAlchemy's ``DBAPIError.orig``): psycopg's carries
    its SQLSTATE in ``sqlstate`` (psycopg2: ``pgcode``), mysqlclient's and PyMySQL's their
    error number as the first argument. Anything else (a constraint, a syntax error, a lost
    connection) is not a conflict.
    """
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if isinstance(state, str):
        return state in POSTGRES_CONFLICTS
    args: tuple[object, ...] = getattr(error, "args", ())
    return bool(args) and isinstance(args[0], int) and args[0] in MYSQL_CONFLICTS
