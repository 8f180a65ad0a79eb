#!/usr/bin/env python3
"""Matrix client scenarios for the end-to-end tests, written with matrix-nio (an independent client library).

Runs inside the Synapse chroot: python3 /e2e/clients/scenarios.py <scenario> < input.json
The input names the users (homeserver URL of their proxy, user ID, device ID, access token, password) and the
scenario's parameters; the output on stdout is one JSON object with what the clients saw, which the C# tests
assert on (together with what Synapse itself stored). Exit code 0 when the scenario ran to its end, 1 with a
JSON {"error": ...} when a step failed (the message names the step).
"""

import asyncio
import hashlib
import io
import json
import ssl
import sys
import time
import traceback

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinResponse,
    KeysClaimResponse,
    KeysQueryResponse,
    KeysUploadResponse,
    LoginResponse,
    MegolmEvent,
    ProfileGetResponse,
    ReceiptEvent,
    RoomCreateResponse,
    RoomMessageText,
    RoomPreset,
    RoomResolveAliasResponse,
    RoomSendResponse,
    RoomVisibility,
    SyncResponse,
    TypingNoticeEvent,
    UploadResponse,
    WhoamiResponse,
)
from nio.store import SqliteMemoryStore

SYNC_TIMEOUT_MS = 2000
# Federation is asynchronous: events, EDUs and to-device messages reach the other server when its sender
# gets to them. Generous, since the machine running the tests may be busy.
WAIT_SECONDS = 90


class StepFailed(Exception):
    pass


def error_of(response):
    """The Matrix error of a failed nio response, with the HTTP status the client saw."""
    transport = getattr(response, "transport_response", None)
    return {
        "errcode": getattr(response, "status_code", None),
        "error": getattr(response, "message", None),
        "status": transport.status if transport is not None else None,
    }


def expect(response, kind, step):
    if not isinstance(response, kind):
        raise StepFailed(f"{step}: {type(response).__name__} {json.dumps(error_of(response))}")
    return response


class Party:
    """One user's nio client, with a sync position so waits only look at what is new."""

    def __init__(self, spec, ca, encryption=False):
        self.spec = spec
        self.user_id = spec.get("user_id", "")
        config = AsyncClientConfig(
            # Fail instead of retrying forever, so a refused connection is an answer, not a hang.
            max_timeouts=2,
            max_limit_exceeded=5,
            encryption_enabled=encryption,
            # restore_login loads a store whenever olm is installed; a memory store keeps nothing between runs.
            store=SqliteMemoryStore,
            request_timeout=60,
        )
        self.client = AsyncClient(spec["homeserver"], self.user_id, spec.get("device_id", ""), config=config,
                                  ssl=ssl.create_default_context(cafile=ca))
        if spec.get("token"):
            self.client.restore_login(self.user_id, spec["device_id"], spec["token"])
        self.since = None

    async def sync_once(self):
        response = expect(await self.client.sync(timeout=SYNC_TIMEOUT_MS, since=self.since), SyncResponse, f"sync of {self.user_id}")
        self.since = response.next_batch
        return response

    async def wait(self, predicate, what):
        """Syncs until predicate(sync response) returns something other than None."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            found = predicate(await self.sync_once())
            if found is not None:
                return found
        raise StepFailed(f"{self.user_id} did not see {what} within {WAIT_SECONDS} s")

    async def wait_for_text(self, room_id, body):
        def find(sync):
            room = sync.rooms.join.get(room_id)
            for event in room.timeline.events if room else []:
                if isinstance(event, RoomMessageText) and event.body == body:
                    return {"event_id": event.event_id, "sender": event.sender, "body": event.body}
            return None

        return await self.wait(find, f"the message '{body}'")

    async def send_text(self, room_id, body):
        response = await self.client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body},
                                               ignore_unverified_devices=True)
        return expect(response, RoomSendResponse, f"{self.user_id} sends to {room_id}").event_id

    async def raw(self, method, path, body=None):
        """A request nio has no method for, sent through nio's own HTTP session and headers."""
        if self.client.client_session is None:
            self.client.client_session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        headers = {"Content-Type": "application/json"}
        if self.client.access_token:
            headers["Authorization"] = f"Bearer {self.client.access_token}"
        data = json.dumps(body) if body is not None else None
        response = await self.client.send(method, path, data, headers)
        text = await response.text()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = {"unparsed": text[:500]}
        return {"status": response.status, "body": parsed}

    async def close(self):
        await self.client.close()


async def shared_room(owner, guest, encrypted=False, preset=RoomPreset.private_chat):
    """owner creates a room and invites guest (on another server), guest joins; both see the join."""
    initial_state = [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}] if encrypted else []
    created = expect(await owner.client.room_create(name="e2e", preset=preset, initial_state=initial_state), RoomCreateResponse, "createRoom")
    room_id = created.room_id
    await owner.sync_once()
    await guest.sync_once()
    expect_ok(await owner.client.room_invite(room_id, guest.user_id), "invite over federation")
    await guest.wait(lambda s: True if room_id in s.rooms.invite else None, "the invite")
    expect(await guest.client.join(room_id), JoinResponse, "join over federation")
    def joined(_):
        room = owner.client.rooms.get(room_id)
        return True if room and guest.user_id in room.users and guest.user_id not in room.invited_users else None

    await owner.wait(joined, "the guest's join")
    return room_id


# --- scenarios -------------------------------------------------------------------------------------------

async def versions(p):
    anonymous = Party({"homeserver": p["homeserver"]}, p["ca"])
    try:
        return await anonymous.raw("GET", "/_matrix/client/versions")
    finally:
        await anonymous.close()


async def login_whoami(p):
    user = p["user"]
    party = Party({"homeserver": user["homeserver"], "user_id": user["user_id"]}, p["ca"])
    try:
        registered = await party.client.register(p["new_username"], "unused-password-0123456789")
        register = {"succeeded": not isinstance(registered, ErrorResponse), **(error_of(registered) if isinstance(registered, ErrorResponse) else {})}
        login = expect(await party.client.login(password=user["password"], device_name="e2e-login"), LoginResponse, "login")
        whoami = expect(await party.client.whoami(), WhoamiResponse, "whoami")
        return {
            "register": register,
            "login": {"user_id": login.user_id, "device_id": login.device_id},
            "whoami": {"user_id": whoami.user_id, "device_id": whoami.device_id},
        }
    finally:
        await party.close()


async def create_send_sync(p):
    alice = Party(p["alice"], p["ca"])
    try:
        room_id = expect(await alice.client.room_create(name="local"), RoomCreateResponse, "createRoom").room_id
        await alice.sync_once()
        event_id = await alice.send_text(room_id, p["body"])
        seen = await alice.wait_for_text(room_id, p["body"])
        return {"room_id": room_id, "event_id": event_id, "seen": seen}
    finally:
        await alice.close()


async def federated_conversation(p):
    alice, bob = Party(p["alice"], p["ca"]), Party(p["bob"], p["ca"])
    try:
        room_id = await shared_room(alice, bob)
        bob_event = await bob.send_text(room_id, p["from_bob"])
        alice_saw = await alice.wait_for_text(room_id, p["from_bob"])
        alice_event = await alice.send_text(room_id, p["from_alice"])
        bob_saw = await bob.wait_for_text(room_id, p["from_alice"])
        return {"room_id": room_id, "bob_event": bob_event, "alice_event": alice_event, "alice_saw": alice_saw, "bob_saw": bob_saw}
    finally:
        await alice.close()
        await bob.close()


async def profile_and_alias(p):
    alice, bob = Party(p["alice"], p["ca"]), Party(p["bob"], p["ca"])
    try:
        expect_ok(await alice.client.set_displayname(p["displayname"]), "set displayname")
        # TIM: public rooms never federate (m.federate is forced to false), so bob joins an invite-only room
        # by its alias once invited.
        room_id = expect(await alice.client.room_create(name="aliased", preset=RoomPreset.private_chat), RoomCreateResponse, "createRoom").room_id
        expect_ok(await alice.client.room_put_alias(p["alias"], room_id), "put alias")
        await bob.sync_once()
        expect_ok(await alice.client.room_invite(room_id, bob.user_id), "invite over federation")
        await bob.wait(lambda s: True if room_id in s.rooms.invite else None, "the invite")
        profile = expect(await bob.client.get_profile(alice.user_id), ProfileGetResponse, "profile over federation")
        resolved = expect(await bob.client.room_resolve_alias(p["alias"]), RoomResolveAliasResponse, "alias over federation")
        joined = expect(await bob.client.join(p["alias"]), JoinResponse, "join by alias over federation")
        return {
            "room_id": room_id,
            "profile": {"displayname": profile.displayname},
            "resolved": {"room_id": resolved.room_id, "servers": resolved.servers},
            "joined": joined.room_id,
        }
    finally:
        await alice.close()
        await bob.close()


def expect_ok(response, step):
    if isinstance(response, ErrorResponse):
        raise StepFailed(f"{step}: {json.dumps(error_of(response))}")
    return response


async def media(p):
    alice, bob = Party(p["alice"], p["ca"]), Party(p["bob"], p["ca"])
    try:
        data = p["content"].encode("utf-8")
        uploaded, _ = await alice.client.upload(io.BytesIO(data), content_type="text/plain", filename="e2e.txt", filesize=len(data))
        uploaded = expect(uploaded, UploadResponse, "upload")
        downloaded = await bob.client.download(uploaded.content_uri)
        if isinstance(downloaded, ErrorResponse):
            raise StepFailed(f"download over federation: {json.dumps(error_of(downloaded))}")
        return {
            "content_uri": uploaded.content_uri,
            "uploaded_sha256": hashlib.sha256(data).hexdigest(),
            "downloaded_sha256": hashlib.sha256(downloaded.body).hexdigest(),
            "downloaded_content_type": downloaded.content_type,
            "downloaded_filename": downloaded.filename,
        }
    finally:
        await alice.close()
        await bob.close()


async def typing_and_receipts(p):
    alice, bob = Party(p["alice"], p["ca"]), Party(p["bob"], p["ca"])
    try:
        room_id = await shared_room(alice, bob)
        event_id = await alice.send_text(room_id, p["body"])
        await bob.wait_for_text(room_id, p["body"])
        expect_ok(await alice.client.room_typing(room_id, typing_state=True, timeout=30000), "typing")

        def typing(sync):
            room = sync.rooms.join.get(room_id)
            for event in room.ephemeral if room else []:
                if isinstance(event, TypingNoticeEvent) and alice.user_id in event.users:
                    return event.users
            return None

        typing_users = await bob.wait(typing, "alice typing")
        expect_ok(await bob.client.update_receipt_marker(room_id, event_id), "read receipt")

        def receipt(sync):
            room = sync.rooms.join.get(room_id)
            for event in room.ephemeral if room else []:
                if isinstance(event, ReceiptEvent):
                    for r in event.receipts:
                        if r.user_id == bob.user_id and r.event_id == event_id:
                            return {"user_id": r.user_id, "event_id": r.event_id, "receipt_type": r.receipt_type}
            return None

        seen_receipt = await alice.wait(receipt, "bob's read receipt")
        return {"room_id": room_id, "event_id": event_id, "typing_users": typing_users, "receipt": seen_receipt}
    finally:
        await alice.close()
        await bob.close()


async def end_to_end_encryption(p):
    """Bob (other server) queries Alice's device keys, claims a one-time key, shares a Megolm session over
    to-device, and sends an encrypted message Alice decrypts: keys/query, keys/claim and sendToDevice across servers."""
    alice, bob = Party(p["alice"], p["ca"], encryption=True), Party(p["bob"], p["ca"], encryption=True)
    try:
        uploaded = expect(await alice.client.keys_upload(), KeysUploadResponse, "alice uploads keys")
        expect(await bob.client.keys_upload(), KeysUploadResponse, "bob uploads keys")
        alice_otk_before = uploaded.signed_curve25519_count
        room_id = await shared_room(alice, bob, encrypted=True)
        # nio queries keys of users it shares an encrypted room with, once a sync has told it about them.
        await bob.wait(lambda _: True if bob.client.should_query_keys else None, "a reason to query alice's keys")
        queried = expect(await bob.client.keys_query(), KeysQueryResponse, "bob queries keys")
        alice_devices = queried.device_keys.get(alice.user_id, {})
        missing = bob.client.get_missing_sessions(room_id)
        claimed = expect(await bob.client.keys_claim(missing), KeysClaimResponse, "bob claims one-time keys")
        claimed_for_alice = claimed.one_time_keys.get(alice.user_id, {})
        expect_ok(await bob.client.share_group_session(room_id, ignore_unverified_devices=True), "share group session")
        await bob.send_text(room_id, p["body"])
        decrypted = await alice.wait_for_text(room_id, p["body"])

        def otk_count(sync):
            count = sync.device_key_count.signed_curve25519 if sync.device_key_count else None
            return count if count is not None else None

        alice_otk_after = await alice.wait(otk_count, "a one-time key count")
        return {
            "room_id": room_id,
            "queried_devices": {d: {"ed25519": k.get("keys", {}).get(f"ed25519:{d}") if isinstance(k, dict) else None}
                                for d, k in alice_devices.items()} if isinstance(alice_devices, dict) else {},
            "alice_device": alice.client.device_id,
            "alice_ed25519": alice.client.olm.account.identity_keys["ed25519"],
            "claimed_devices": sorted(claimed_for_alice.keys()),
            "claim_failures": claimed.failures,
            "alice_otk_before": alice_otk_before,
            "alice_otk_after": alice_otk_after,
            "decrypted": decrypted,
        }
    finally:
        await alice.close()
        await bob.close()


async def prepare_room(p):
    """A room of owner with guest joined over federation (for steps the C# side drives, e.g. the front door)."""
    owner, guest = Party(p["owner"], p["ca"]), Party(p["guest"], p["ca"])
    try:
        return {"room_id": await shared_room(owner, guest)}
    finally:
        await owner.close()
        await guest.close()


async def wait_for_text(p):
    party = Party(p["user"], p["ca"])
    try:
        return await party.wait_for_text(p["room_id"], p["body"])
    finally:
        await party.close()


async def exchange(p):
    """Messages both ways in an existing shared room."""
    alice, bob = Party(p["alice"], p["ca"]), Party(p["bob"], p["ca"])
    try:
        await alice.sync_once()
        await bob.sync_once()
        await alice.send_text(p["room_id"], p["from_alice"])
        bob_saw = await bob.wait_for_text(p["room_id"], p["from_alice"])
        await bob.send_text(p["room_id"], p["from_bob"])
        alice_saw = await alice.wait_for_text(p["room_id"], p["from_bob"])
        return {"bob_saw": bob_saw, "alice_saw": alice_saw}
    finally:
        await alice.close()
        await bob.close()


async def unlisted(p):
    """Alice (listed server) and Carol (unlisted server) try to reach each other in every way a user would."""
    alice, carol = Party(p["alice"], p["ca"]), Party(p["carol"], p["ca"])
    try:
        room_id = expect(await alice.client.room_create(name="no unlisted", preset=RoomPreset.private_chat), RoomCreateResponse, "createRoom").room_id
        expect_ok(await alice.client.room_put_alias(p["alias"], room_id), "put alias")
        result = {"room_id": room_id}
        result["alice_invites_carol"] = error_of(await alice.client.room_invite(room_id, carol.user_id))
        result["alice_creates_room_inviting_carol"] = error_of(await alice.client.room_create(name="with carol", invite=[carol.user_id]))
        result["alice_reads_carols_profile"] = error_of(await alice.client.get_profile(carol.user_id))
        result["carol_reads_alices_profile"] = error_of(await carol.client.get_profile(alice.user_id))
        result["carol_resolves_alias"] = error_of(await carol.client.room_resolve_alias(p["alias"]))
        result["carol_joins_by_alias"] = error_of(await carol.client.join(p["alias"]))
        return result
    finally:
        await alice.close()
        await carol.close()


async def raw_request(p):
    party = Party(p["user"], p["ca"])
    try:
        return await party.raw(p["method"], p["path"], p.get("body"))
    finally:
        await party.close()


SCENARIOS = {f.__name__: f for f in [versions, login_whoami, create_send_sync, federated_conversation, profile_and_alias, media,
                                     typing_and_receipts, end_to_end_encryption, prepare_room, wait_for_text, exchange, unlisted,
                                     raw_request]}


def main():
    name = sys.argv[1]
    params = json.load(sys.stdin)
    try:
        result = asyncio.run(SCENARIOS[name](params))
    except StepFailed as failed:
        print(json.dumps({"error": str(failed)}))
        return 1
    except Exception as unexpected:  # noqa: BLE001 - reported to the test with its traceback
        traceback.print_exc()
        print(json.dumps({"error": f"{type(unexpected).__name__}: {unexpected}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
