"""Test-only Actor for scheduled runs on the stand-in (test_standin_schedule.py): through the SDK's own Apify
storage client, as on the platform, it reads what earlier runs left in the job's named dataset, key-value store
and request queue, asks the platform how the runs named in its input ended, leaves its own mark in each named
storage, and reports all it saw as the one item of its default dataset. With `hang`, it then waits to be
killed or migrated (asking for its reboot at once); a restarted run (its report already there) only waits."""

import asyncio

from apify import Actor, Event


async def main() -> None:
    async with Actor:
        actor_input = await Actor.get_input()
        run_id = Actor.configuration.actor_run_id
        if not (await (await Actor.open_dataset()).get_metadata()).item_count:  # not a restart of this run
            job = actor_input["job"]
            dataset = await Actor.open_dataset(name=job)
            store = await Actor.open_key_value_store(name=job)
            queue = await Actor.open_request_queue(name=job)
            state = await Actor.use_state({"runs": []}, kvs_name=job)
            earlier = await queue.fetch_next_request()  # what the run before left pending
            if earlier:
                await queue.mark_request_as_handled(earlier)
            statuses = {}
            for other in actor_input.get("askAbout", []):
                run = await Actor.apify_client.run(other).get()
                statuses[other] = run.status if run else None
            seen = {
                "items": (await dataset.get_data()).items,
                "lastRun": await store.get_value("LAST_RUN"),
                "runs": list(state["runs"]),
                "handled": earlier.url if earlier else None,
                "statuses": statuses,
            }
            await dataset.push_data({"run": run_id})
            await store.set_value("LAST_RUN", run_id)
            await queue.add_request(f"https://example.com/{run_id}")
            state["runs"].append(run_id)
            await store.persist_autosaved_values()
            await Actor.push_data(seen)
        if actor_input.get("hang"):

            async def reboot(_data: object) -> None:
                await Actor.reboot()  # which saves the state (`use_state`) before the platform stops the run

            Actor.on(Event.MIGRATING, reboot)
            await asyncio.Event().wait()


asyncio.run(main())
