"""Voice on the demo page in Chromium with a fake microphone, against the real stack (pocketsphinx
and espeak-ng in the run worker): hold to talk, the transcript shows partial then final, the
spoken reply's chunks play, Stop silences speech and cancels the run, a reload shows what was
said; screenshots in the test's tmp_path."""

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from switchboard_protocol.wav import read_wav, write_wav

from tests.browser.conftest import ARGS, STATIC
from tests.browser.pages import run_ended, send, sign_in, tid, wait_state, watch_console
from tests.speech import SENTENCE, espeak_wav, heard_words
from tests.stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(240)]


def microphone_file(directory: Path) -> tuple[Path, float]:
    """espeak-ng saying SENTENCE as the fake microphone's WAV, and its length in seconds.
    Chromium's file capture reads 8/16/32-bit PCM WAV; the file is rewritten with its true sizes
    (espeak-ng's --stdout header leaves the data size open)."""
    audio = read_wav(espeak_wav(SENTENCE))
    path = directory / "microphone.wav"
    path.write_bytes(write_wav(audio.data, audio.rate, channels=audio.channels, width=audio.width))
    return path, audio.duration_s


@pytest.fixture
async def voice_browser(tmp_path: Path) -> AsyncIterator[tuple[object, float]]:
    """Chromium whose microphone says SENTENCE once (`%noloop`: silence after it), granted
    without a prompt."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    if not (STATIC / "sdk/index.js").is_file():
        pytest.fail("the page's SDK is not built: run `make install` (builds libs/client-ts)")
    from playwright.async_api import async_playwright

    wav, seconds = microphone_file(tmp_path)
    fake_mic = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",
    ]
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=chromium, args=ARGS + fake_mic)
        try:
            yield launched, seconds
        finally:
            await launched.close()


async def played(page: Page) -> int:
    return int(await tid(page, "player").get_attribute("data-played") or 0)


async def test_hold_to_talk_is_heard_the_reply_plays_and_stop_silences(
    voice_browser, stack: Stack, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    browser, seconds = voice_browser
    page = await browser.new_page()
    errors = watch_console(page)
    await sign_in(page, stack.url)
    await tid(page, "voice-mode").check()
    await tid(page, "new-session").click()
    await wait_state(page, "live")
    talk = tid(page, "talk-button")
    await expect(talk).to_be_visible()

    # hold the button while the microphone says the sentence (and a little silence after it)
    await talk.hover()
    await page.mouse.down()
    await expect(talk).to_have_attribute("aria-pressed", "true")
    await page.wait_for_function(
        "s => Number(document.querySelector('[data-testid=talk-button]').dataset.recordedS) > s",
        arg=seconds + 0.8,
        timeout=30_000,
    )
    await page.screenshot(path=str(tmp_path / "voice-1-holding.png"))
    await page.mouse.up()

    utterance = page.locator("[data-testid=msg-user][data-heard=final]")
    await expect(utterance).to_be_visible(timeout=60_000)
    heard = await utterance.inner_text()
    assert len(heard_words(heard)) >= 3, f"{heard}\n{stack.logs()}"
    assert int(await utterance.get_attribute("data-partials") or 0) >= 1  # partials came first

    # the spoken reply: every tts chunk plays, one after another, then the player is idle
    await run_ended(page, 0)
    audio_line = tid(page, "audio").first
    await expect(audio_line).to_contain_text("(complete)")
    chunks = int((await audio_line.inner_text()).split("audio: ")[1].split(" ")[0])
    player = tid(page, "player")
    await page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=player]').dataset.played) >= 1",
        timeout=30_000,
    )
    await page.screenshot(path=str(tmp_path / "voice-2-speaking.png"))
    await expect(player).to_have_attribute("data-played", str(chunks), timeout=120_000)
    await expect(player).to_have_attribute("data-state", "idle")

    # a long spoken reply: Stop silences it mid-speech and cancels its run
    before = await played(page)
    await send(page, "/tokens 300 rate=20")
    await page.wait_for_function(
        "n => { const p = document.querySelector('[data-testid=player]').dataset;"
        " return Number(p.played) > n && Number(p.queued) > 0; }",
        arg=before,
        timeout=60_000,
    )
    await tid(page, "cancel-button").click()
    await expect(player).to_have_attribute("data-state", "stopped")
    await expect(player).to_have_attribute("data-queued", "0")
    stopped_at = await played(page)
    await run_ended(page, 1, "cancelled")
    await expect(tid(page, "cancel-button")).to_be_hidden()
    await page.screenshot(path=str(tmp_path / "voice-3-stopped.png"))
    assert await played(page) == stopped_at  # nothing more played after Stop

    await page.reload()  # history keeps what was said: the transcript is the message's text
    await wait_state(page, "live")
    stored = await tid(page, "msg-user").first.inner_text()
    assert len(heard_words(stored)) >= 3, stored

    await page.set_viewport_size({"width": 360, "height": 740})  # a phone: the button fits
    await expect(tid(page, "sidebar")).not_to_be_in_viewport()  # the drawer has slid away
    box = await talk.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 360, box
    await page.screenshot(path=str(tmp_path / "voice-4-phone.png"))
    assert errors == [], errors


async def test_the_talk_button_works_from_the_keyboard(voice_browser, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    """Space held on the focused button records; its release sends (no pointer at all)."""
    browser, seconds = voice_browser
    page = await browser.new_page()
    await sign_in(page, stack.url)
    await tid(page, "voice-mode").check()
    await tid(page, "new-session").click()
    await wait_state(page, "live")
    talk = tid(page, "talk-button")
    await talk.focus()
    await page.keyboard.down("Space")
    await expect(talk).to_have_attribute("aria-pressed", "true")
    await page.wait_for_function(
        "s => Number(document.querySelector('[data-testid=talk-button]').dataset.recordedS) > s",
        arg=seconds + 0.8,
        timeout=30_000,
    )
    await page.keyboard.up("Space")
    await expect(talk).to_have_attribute("aria-pressed", "false")
    utterance = page.locator("[data-testid=msg-user][data-heard=final]")
    await expect(utterance).to_be_visible(timeout=60_000)
    assert len(heard_words(await utterance.inner_text())) >= 3
