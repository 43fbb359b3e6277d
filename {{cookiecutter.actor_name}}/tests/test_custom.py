"""Exactly once for whatever source.py holds: the Actor's dataset, after kills at random instants, crashes right after a
push, migrations on the platform stand-in and reads that raise, against your source read plainly (custom_source.py).

Replace the example with your own source and these tests go on proving exactly once for it (adjust TEST_INPUT in
custom_source.py). Tests about the example alone are marked `example` (`-m "not example"` leaves them out).
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from custom_source import TEST_INPUT, expected_items, module
from harness import PROJECT_ROOT, Storage, kill_once_working, refusal_of, run_actor, start_actor
from platform_standin import PlatformStandIn
from schedule import Schedule

ENTRY = "tests/custom_entry.py"  # the Actor with its source's reads disturbed as the environment asks
SLOW = {"READ_DELAY_SECS": "0.03"}  # a run takes long enough for a kill or a migration to land mid-run


def run(storage: Storage, actor_input: dict[str, Any] | None = None, **env: str) -> Any:
    storage.write_input({**TEST_INPUT, **(actor_input or {})})
    return run_actor(storage, entry=ENTRY if env else None, **env)


def assert_exact(storage: Storage, expected: list[Any] | None = None) -> None:
    items = storage.items()
    expected = expected_items() if expected is None else expected
    assert len(items) == len(expected), f"{len(items)} items in the dataset, {len(expected)} in the source"
    assert items == expected  # each once, in source order


def one_line(log: str, text: str) -> str:
    (line,) = [line for line in log.splitlines() if text in line]
    return line


def test_reads_the_whole_source_exactly_once_in_order(storage: Storage) -> None:
    result = run(storage)
    assert result.returncode == 0, result.stdout[-3000:]
    assert_exact(storage)
    assert storage.state()["finished"] is True
    again = run(storage)  # a finished run started again reads nothing
    assert again.returncode == 0
    assert_exact(storage)


def test_a_crash_right_after_a_push_then_a_restart(storage: Storage) -> None:
    storage.write_input(TEST_INPUT)
    for push in (2, 1):
        crashed = run_actor(storage, entry="tests/crash_after_push.py", CRASH_AFTER_PUSH=str(push))
        if crashed.returncode == 0:
            break  # the source has fewer pushes than that
        assert crashed.returncode == -9
        assert storage.state()["pending"] > 0  # the dataset is ahead of the checkpoint: the restart reconciles it
    assert run(storage).returncode == 0
    assert_exact(storage)


@pytest.mark.long
def test_killed_at_random_instants(storage: Storage) -> None:
    chance = random.Random(34)
    storage.write_input(TEST_INPUT)
    for _ in range(3):
        landed = storage.item_count()
        process = start_actor(storage, entry=ENTRY, **SLOW)
        kill_once_working(process, lambda landed=landed: storage.item_count() != landed, chance, within_secs=0.5)
    assert run(storage).returncode == 0
    assert_exact(storage)


def test_migrations_on_the_platform_stand_in(storage: Storage) -> None:
    expected = expected_items()

    async def play() -> PlatformStandIn:
        async with PlatformStandIn(storage) as platform:
            await platform.start(entry=ENTRY, **SLOW)
            await platform.wait_for_items(len(expected) // 3)
            await platform.migrate()  # the restart reads at full speed
            if platform.process.poll() is None or platform.exit_codes[-1:] != [0]:
                await platform.wait_for_exit(within=120)
            return platform

    storage.write_input(TEST_INPUT)
    platform = asyncio.run(play())
    migration = platform.migrations[0]
    assert migration.exit_code_before_kill is None  # it asked for a reboot and waited: no exit 0 while migrating
    assert migration.state_at_reboot["pushed"] == migration.item_count_at_reboot  # saved before the reboot
    assert platform.exit_codes[-1] == 0
    assert_exact(storage, expected)


def test_aborting_saves_and_a_resurrected_run_goes_on(storage: Storage) -> None:
    expected = expected_items()

    async def play() -> PlatformStandIn:
        async with PlatformStandIn(storage) as platform:
            await platform.start(entry=ENTRY, **SLOW)
            await platform.wait_for_items(len(expected) // 3)
            await platform.send("aborting")
            assert await platform.wait_for_exit(within=60) == 0
            assert storage.state()["pushed"] == storage.item_count()
            await platform.start()  # resurrect
            await platform.wait_for_exit(within=120)
            return platform

    storage.write_input(TEST_INPUT)
    platform = asyncio.run(play())
    assert platform.exit_codes == [0, 0]
    assert any("Stopped (aborting)" in message for _t, message, _terminal in platform.status_messages())
    assert_exact(storage, expected)


def test_max_items_holds_and_a_raised_limit_goes_on(storage: Storage) -> None:
    expected = expected_items()
    limit = max(1, len(expected) // 3 + 1)  # likely within a page
    assert run(storage, {"maxItems": limit}).returncode == 0
    assert storage.items() == expected[:limit]
    assert storage.state()["finished"] is (limit >= len(expected))
    assert run(storage).returncode == 0  # maxItems 0: no limit
    assert_exact(storage, expected)


def test_a_read_that_raises_is_retried(storage: Storage) -> None:
    result = run(storage, READ_FAILS="2:2")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "retry 2 of 5" in result.stdout
    assert_exact(storage)


def test_a_read_that_keeps_raising_fails_with_one_line_and_a_restart_goes_on(storage: Storage) -> None:
    failed = run(storage, {"maxReadRetries": 1}, READ_FAILS="3:1000")
    assert failed.returncode == 1
    line = one_line(failed.stdout, "failed 2 times")
    assert "ConnectionError: test: read 4 failed" in line
    kept = storage.state()
    assert 0 < kept["pushed"] == storage.item_count()  # the pages read before are kept, and so is the position
    assert run(storage).returncode == 0
    assert_exact(storage)


def test_a_read_that_cancels_itself_is_a_failed_read_retried_never_a_stop(storage: Storage) -> None:
    """A CancelledError raised by a read of its own (a driver's timeout) is a failed read: retried, then one line and
    exit 1, never taken for a stop (a run that ended as done with the source unread)."""
    assert run(storage, READ_CANCELS="2:1").returncode == 0
    assert_exact(storage)


def test_a_read_that_keeps_cancelling_itself_fails_with_one_line_and_a_restart_goes_on(storage: Storage) -> None:
    failed = run(storage, {"maxReadRetries": 0}, READ_CANCELS="3:1000")
    assert failed.returncode == 1, failed.stdout[-3000:]
    assert "Traceback" not in failed.stdout + failed.stderr
    assert "CancelledError: test: read 3 cancelled itself" in one_line(failed.stdout, "failed 1 times")
    assert not storage.state()["finished"]
    assert run(storage).returncode == 0
    assert_exact(storage)


@pytest.mark.parametrize(("raised", "said"), [("exit", "SystemExit(0)"), ("interrupt", "KeyboardInterrupt()")])
def test_a_read_that_exits_fails_with_one_line_never_exit_0_and_a_restart_goes_on(
    storage: Storage, raised: str, said: str
) -> None:
    """sys.exit(0) or a KeyboardInterrupt in a read (run in a task of its own, either would end the event loop at
    once, exit 0 marking the run done with the source unread) ends the run with one line, exit 1."""
    failed = run(storage, READ_EXITS=f"3:{raised}")
    assert failed.returncode == 1, failed.stdout[-3000:]
    assert "Traceback" not in failed.stdout + failed.stderr
    assert f"{said} raised in the run's work" in one_line(failed.stdout, "raised in the run's work")
    assert not storage.state()["finished"]
    assert run(storage).returncode == 0
    assert_exact(storage)


def test_a_source_whose_exit_cancels_itself_fails_with_one_line(storage: Storage) -> None:
    failed = run(storage, SOURCE_EXIT_CANCELS="1")
    assert failed.returncode == 1, failed.stdout[-3000:]
    assert "Traceback" not in failed.stdout + failed.stderr
    assert "test: the source's exit cancelled itself" in one_line(failed.stdout, "cancelled itself")
    assert_exact(storage)  # every item had landed before


@pytest.mark.parametrize("cursor", ['"{not json"', "7"])
def test_a_corrupt_position_in_the_state_record_fails_with_one_line_and_touches_nothing(
    storage: Storage, cursor: str
) -> None:
    if len(expected_items()) < 2:
        pytest.skip("the source has too few items to stop within it")
    assert run(storage, {"maxItems": 1}).returncode == 0
    record = {**storage.state(), "cursor": json.loads(cursor)}
    storage.write_record("APIFY_GLOBAL_STATE", json.dumps(record))
    storage.write_input(TEST_INPUT)
    before = storage.snapshot()
    failed = run_actor(storage)
    assert failed.returncode == 1, failed.stdout[-3000:]
    assert "Traceback" not in failed.stdout + failed.stderr
    assert "The state record's position (cursor) is not one this source saved" in failed.stdout
    assert storage.snapshot() == before


def test_a_source_that_cannot_be_made_fails_with_one_line_hiding_the_inputs_secrets(storage: Storage) -> None:
    """`Source(actor_input)` raising (a DSN it cannot use) ends the run like a read that raises: one line, exit 1, no
    traceback, the DSN's password hidden."""
    failed = run(storage, {"database": "postgresql://me:hunter22@db.example/x"}, SOURCE_INIT_FAILS="1")
    assert failed.returncode == 1, failed.stdout[-3000:]
    assert "Traceback" not in failed.stdout + failed.stderr
    assert "hunter22" not in failed.stdout + failed.stderr
    assert "ValueError: test: cannot use postgresql://me:***@db.example/x" in one_line(failed.stdout, "cannot use")


def test_a_source_that_gives_the_same_position_twice_is_stopped(storage: Storage) -> None:
    result = run(storage, REPEAT_POSITION_AT="3")
    if len(expected_items()) and storage.state()["finished"]:
        pytest.skip("source.py ended within two pages")
    assert result.returncode == 1
    assert "again" in one_line(result.stdout, "would be read forever")
    assert storage.items() == expected_items()[: storage.item_count()]


def test_a_read_that_blocks_the_event_loop_is_warned_about(storage: Storage) -> None:
    result = run(storage, READ_BLOCKS_SECS="2.5")
    assert result.returncode == 0
    warning = one_line(result.stdout, "read blocked the event loop for")
    # It held the loop at least the 2.5 s it slept (longer on a loaded machine): the warning says how long.
    assert float(warning.split("read blocked the event loop for ", 1)[1].split(" s", 1)[0]) >= 2.5
    assert_exact(storage)


def test_input_model_and_input_schema_agree_on_each_field() -> None:
    schema = json.loads((PROJECT_ROOT / ".actor" / "input_schema.json").read_text())
    described = module("main").ActorInput.model_json_schema(by_alias=True)
    assert set(described["properties"]) == set(schema["properties"])
    assert set(described.get("required", [])) == set(schema.get("required", []))
    for name, spec in schema["properties"].items():
        field = described["properties"][name]
        if "type" in field:  # an optional field is anyOf [its type, null]
            assert field["type"] == spec["type"], name
        for rule in ("default", "minimum", "maximum", "minLength", "pattern", "enum"):
            assert field.get(rule) == spec.get(rule), f"{name}: {rule}"
        # A field secret in the schema only (or in the model only) would be shown in logs and kept in the identity.
        assert bool(field.get("isSecret")) == bool(spec.get("isSecret")), f"{name}: isSecret (in the model too?)"


@pytest.mark.long
def test_an_incremental_job_killed_for_good_is_handed_over_and_then_has_nothing_new(storage: Storage) -> None:
    schedule = Schedule(storage, {**TEST_INPUT, "incremental": True, "datasetName": "job"})
    killed = schedule.killed_run(random.Random(3), within_secs=0.5, entry=ENTRY, **SLOW)
    assert schedule.run().returncode == 0  # goes on where the killed run's pass was, and delivers its items too
    assert schedule.run().returncode == 0  # the pass ended: only what the source gives past its end, here nothing
    expected = expected_items()
    assert schedule.job_items() == expected
    assert schedule.delivered_by_succeeded_runs() == expected
    assert schedule.runs[-1] == ("succeeded", [])
    assert killed or schedule.runs[0][0] == "succeeded"


def test_an_incremental_job_whose_positions_expire_says_so_in_each_failed_run(storage: Storage) -> None:
    """Each pass of an incremental job goes on by reading again the position where the last pass ended: when that
    position is a page token the server refuses after an hour, every later run fails there, and says why and what to
    do, in its one line (the token hidden)."""
    job_input = {**TEST_INPUT, "incremental": True, "datasetName": "expiring", "maxReadRetries": 1}
    schedule = Schedule(storage, job_input)
    assert schedule.run(entry=ENTRY, PAGE_TOKENS_EXPIRE="1").returncode == 0  # one process: its tokens hold
    assert schedule.job_items() == expected_items()
    ended = json.loads(schedule.job_state()["cursor"] or "null")
    if ended is None:
        pytest.skip("source.py ended within one page: a pass goes on from its start")
    token = ended["pageToken"]
    for _ in range(2):  # the next run fails, and so does every run after it
        failed = schedule.run(entry=ENTRY, PAGE_TOKENS_EXPIRE="1")
        assert failed.returncode == 1
        assert "Traceback" not in failed.stdout
        assert token not in failed.stdout
        line = one_line(failed.stdout, "failed 2 times")
        assert "PermissionError: test: the page token *** has expired" in line
        assert "the incremental job's going-on read" in line
        assert "the position where the last pass ended" in line
        assert "must stay readable (a keyset" in line
        assert "another datasetName" in line
    assert schedule.job_items() == expected_items()  # nothing read twice


def test_parallel_runs_are_refused_with_one_line(storage: Storage) -> None:
    assert "parallelRuns 2 cannot be used with your own source" in refusal_of(
        storage, {**TEST_INPUT, "parallelRuns": 2}
    )


def test_another_source_code_does_not_resume_at_a_stale_position(storage: Storage) -> None:
    assert run(storage, {"maxItems": 1}).returncode == 0
    state = storage.state()
    state["source"]["sourceCode"] = "0" * 12  # as if source.py had been changed since
    storage.write_record("APIFY_GLOBAL_STATE", json.dumps(state))
    refused = run(storage, {"maxItems": 0})
    assert refused.returncode == 1
    assert "sourceCode changed" in one_line(refused.stdout, "was written for another source")


def test_the_source_identity_leaves_secrets_out_and_positions_keep_none() -> None:
    """The engine's credentials handling for any input model: secret fields and URL passwords are hidden, no part of
    the identity (a rotated password resumes), and a position holding one is saved with a placeholder."""
    engine, reading = module("engine"), module("engine.reading")

    class Model(engine.SourceInput):
        dsn: str = ""
        api_key: str = ""
        table: str = ""

    given = Model.model_validate({"dsn": "postgresql://me:pw-0ld-1234@db/x?sslmode=require", "apiKey": "key-1234"})
    rotated = Model.model_validate({"dsn": "postgresql://me:pw-n3w-5678@db/x?sslmode=require", "apiKey": "key-5678"})
    assert given.source() == rotated.source()
    assert "pw-0ld-1234" not in json.dumps(given.source())
    assert given.secrets().hide("connect pw-0ld-1234 with key-1234") == "connect *** with ***"
    pages = reading.SourcePages(None, given.secrets(), given.secret_fields(), retries=0, seen=[])
    saved = pages.encode({"token": "after key-1234", "n": [1, 2]})
    assert "key-1234" not in saved
    back = reading.SourcePages(None, rotated.secrets(), rotated.secret_fields(), retries=0, seen=[])
    assert back.decode(saved) == {"token": "after key-5678", "n": [1, 2]}

    class Refusing:
        async def read(self, position: Any) -> Any:
            raise ConnectionError(f"cannot log in to postgresql://me:pw-0ld-1234@db/x at {position}")

    refusing = reading.SourcePages(Refusing(), given.secrets(), given.secret_fields(), retries=0, seen=[])
    with pytest.raises(reading.SourceError) as failure:
        asyncio.run(refusing.page_at(module("engine.state_record").Position(cursor=saved)))
    assert "pw-0ld-1234" not in str(failure.value)
    assert "key-1234" not in str(failure.value)
    assert "ConnectionError: cannot log in to postgresql://me:***@db/x" in str(failure.value)


# --- the example alone ----------------------------------------------------------------------------------------


@pytest.mark.example
def test_the_example_runs_on_an_empty_input(storage: Storage) -> None:
    storage.write_input({})
    assert run_actor(storage).returncode == 0
    assert storage.items() == [{"id": index, "name": f"row {index}"} for index in range(1, 1001)]


def make_table(path: Path, ids: range | list[int]) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT)")
        connection.executemany("INSERT INTO items VALUES (?, ?)", [(i, f"row-{i}") for i in ids])
    connection.close()


@pytest.mark.example
@pytest.mark.long
def test_incremental_runs_deliver_only_new_rows_once(storage: Storage, tmp_path: Path) -> None:
    """Four scheduled runs over a table whose ids have gaps, rows added between them (some in a page the last pass
    ended in), one run killed for good: every row once across the runs that succeeded, in order."""
    database = tmp_path / "source.sqlite"
    chance = random.Random(7)
    ids = sorted(chance.sample(range(1, 10_000), 100))
    make_table(database, ids)
    schedule = Schedule(storage, {"database": str(database), "pageSize": 7, "incremental": True, "datasetName": "rows"})
    for number in range(4):
        if number == 1:
            schedule.killed_run(chance, within_secs=0.3, entry=ENTRY, **SLOW)  # killed for good
        else:
            assert schedule.run().returncode == 0
        added = sorted(chance.sample(range(ids[-1] + 1, ids[-1] + 1000), 30))
        make_table(database, added)
        ids += added
    assert schedule.run().returncode == 0
    rows = [{"id": i, "name": f"row-{i}"} for i in ids]
    assert schedule.delivered_by_succeeded_runs() == rows
    assert schedule.job_items() == rows


def test_an_unnamed_incremental_job_is_another_one_for_another_account() -> None:
    """Two tasks reading one source as different accounts (another API key, another database user) never share an
    unnamed incremental job: the second would go on at the first's position and never deliver its own older rows."""
    engine, job_name = module("engine"), module("engine.incremental").job_name

    class Model(engine.SourceInput):
        dsn: str = ""
        api_key: str = ""

    def name(**fields: str) -> str:
        return job_name(Model.model_validate({**fields, "incremental": True}))

    assert name(apiKey="sk-account-a") != name(apiKey="sk-account-b")
    assert name(dsn="postgresql://tenant_a:pw-1234@db/x") != name(dsn="postgresql://tenant_b:pw-1234@db/x")
    assert "sk-account-a" not in name(apiKey="sk-account-a")
    # a rotated password is the same account: the same job
    assert name(dsn="postgresql://me:pw-0ld-1234@db/x") == name(dsn="postgresql://me:pw-n3w-5678@db/x")
    assert name(dsn="host=db user=me password=pw-0ld-1234") == name(dsn="host=db user=me password=pw-n3w-5678")


@pytest.mark.parametrize(
    ("database", "password"),
    [
        ("postgresql://me:Tr1cky\\pw!@db.example/x", "Tr1cky\\pw!"),  # a backslash, doubled in a repr
        ("postgresql://me:p%40ss-w0rd@db.example/x", "p@ss-w0rd"),  # percent-encoded in the URL, decoded by drivers
        ("postgresql://me:tab%09ed-pw@db.example/x", "tab\ted-pw"),  # a tab, escaped in a repr
    ],
)
def test_a_password_is_hidden_however_an_error_writes_it(database: str, password: str) -> None:
    """The password of the input's DSN, as the driver uses it and as an exception's message writes it (a KeyError's
    message is a repr; a JSON error body escapes), is hidden in messages."""
    given = module("custom_input").ActorInput.model_validate({"database": database})
    hide = given.secrets().hide
    for shown in (password, str(KeyError(password)), repr(password), json.dumps(password)):
        hidden = hide(f"read failed: {shown}")
        assert password not in hidden
        assert shown not in hidden, hidden


@pytest.mark.parametrize(
    ("dsn", "rotated", "password"),
    [
        ("host=db user=me password=pw-0ld-1234 dbname=x", "host=db user=me password=pw-n3w dbname=x", "pw-0ld-1234"),
        ("host=db password='pw 0ld-1234' dbname=x", "host=db password='pw n3w' dbname=x", "pw 0ld-1234"),
        ("Server=db;Uid=me;Password=pw-0ld-1234;Database=x", "Server=db;Uid=me;Password=n3w;Database=x", "pw-0ld-1234"),
        ("Driver={PG};Server=db;PWD={pw;0ld-1234};", "Driver={PG};Server=db;PWD={pw;n3w};", "pw;0ld-1234"),
    ],
)
def test_a_key_value_connection_string_keeps_its_password_secret(dsn: str, rotated: str, password: str) -> None:
    """libpq's keyword/value DSN and ODBC/ADO.NET connection strings (no URL) hide their password as a URL DSN does:
    in messages and saved positions, and out of the source's identity (a rotated password resumes the run)."""
    engine = module("engine")

    class Model(engine.SourceInput):
        connection_string: str = ""

    given = Model.model_validate({"connectionString": dsn})
    assert password in given.secret_fields().values()
    assert password not in given.secrets().hide(f"cannot connect with {dsn}")
    assert password not in json.dumps(given.source())
    assert given.source() == Model.model_validate({"connectionString": rotated}).source()
    other_host = Model.model_validate({"connectionString": dsn.replace("db", "db2")})
    assert other_host.source() != given.source()


def source_pages(model_input: dict[str, Any], source: Any = None, retries: int = 0) -> Any:
    """The engine's pages of `source` for an input of a model with a password and an API key."""
    engine, reading = module("engine"), module("engine.reading")

    class Model(engine.SourceInput):
        api_key: str = ""
        password: str = ""

    given = Model.model_validate(model_input)
    return reading.SourcePages(source, given.secrets(), given.secret_fields(), retries=retries, seen=[])


def test_a_position_holding_a_secret_comes_back_whatever_the_other_secrets_are() -> None:
    """The placeholder of one secret in a saved position is not taken apart by another secret it contains ("secret",
    "api"): the position read back after a restart holds the key again, not a placeholder."""
    for password in ("secret", "api", "Key"):
        pages = source_pages({"apiKey": "my-api-key-1234", "password": password})
        position = {"token": "my-api-key-1234", "user": password}
        saved = pages.encode(position)
        assert "my-api-key-1234" not in saved
        assert pages.decode(saved) == position, password


def test_a_position_with_keys_that_are_not_text_is_saved_as_json_gives_them_back() -> None:
    """A dict position whose keys are numbers (JSON makes them text) is saved, also with secrets in the input."""
    for model_input in ({}, {"apiKey": "my-api-key-1234"}):
        pages = source_pages(model_input)
        for position in ({1: "a"}, {1: "a", "b": 2}, {"n": {2: [1, {3: None}]}}):
            assert pages.decode(pages.encode(position)) == json.loads(json.dumps(position))


def test_a_position_field_named_for_a_credential_is_hidden_in_messages() -> None:
    """A server's signed page token in a position (`accessToken`, `signature`) is saved (a restart needs it) but never
    shown: not in the position the log and status message name, nor in the error a read at it raises."""
    token, signature = "tok-3c8f0a11d2", "9f2e77aa01"

    class Expired:
        async def read(self, position: Any) -> Any:
            raise PermissionError(f"page token {position['accessToken']} (signed {position['signature']}) expired")

    pages = source_pages({}, Expired())
    saved = pages.encode({"after": 20, "accessToken": token, "signature": signature})
    assert token in saved  # the state record keeps what a restart needs
    shown = pages.shown(saved)
    assert token not in shown
    assert signature not in shown
    assert '"after": 20' in shown
    with pytest.raises(module("engine").SourceError) as failure:
        asyncio.run(pages.page_at(module("engine.state_record").Position(cursor=saved)))
    assert token not in str(failure.value)
    assert signature not in str(failure.value)
    assert "PermissionError: page token *** (signed ***) expired" in str(failure.value)


def test_a_read_that_breaks_the_contract_fails_at_once_saying_how() -> None:
    """A `read` that is no coroutine (def, not async def), or that returns something other than (list, position),
    fails the run at once with a line that says what is wrong: it is not retried as a failing read."""
    calls = []

    class Sync:
        def read(self, position: Any) -> Any:
            calls.append(position)
            return [{"n": 1}], None

    with pytest.raises(module("engine").SourceError) as failure:
        asyncio.run(source_pages({}, Sync(), retries=3).page_at(module("engine.state_record").Position()))
    assert calls == [None]
    assert "async def" in str(failure.value)

    for answer, says in (((None, None), "items"), (([{"n": 1}], None, 3), "3 values"), ({"items": []}, "dict")):

        class Odd:
            async def read(self, position: Any, answer: Any = answer) -> Any:
                return answer

        with pytest.raises(module("engine").SourceError) as failure:
            asyncio.run(source_pages({}, Odd(), retries=3).page_at(module("engine.state_record").Position()))
        assert says in str(failure.value), str(failure.value)
