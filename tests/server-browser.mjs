// tests/server-browser.mjs - the chat page of gds-server in headless Chromium (Debian chromium,
// driven by npm playwright-core, pinned in tests/package.json):
//   node tests/server-browser.mjs PORT SCREENSHOT.png
// The server (tests/test-server.sh) answers with the scripted "Let me think.</think>Hello there.".
// Types a question with thinking on, waits for the streamed answer, checks the answer and the
// folded thinking, then a second turn; keeps a screenshot. Prints "ok ..."/"FAIL ..." and
// "browser: N passed, M failed".
import { chromium } from "playwright-core";

const [port, shot] = process.argv.slice(2);
let passed = 0, failed = 0;
const check = (name, cond, detail) => {
  if (cond) { passed++; console.log("ok   " + name); } else { failed++; console.log("FAIL " + name + (detail ? " (" + detail + ")" : "")); }
};
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
                                        args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", e => errors.push(e.message));
  page.on("console", m => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => document.getElementById("model").textContent.length > 0, null, { timeout: 20000 });
  check("the page loads and shows the model id", (await page.textContent("#model")) === "m.gguf");
  await page.check("#think");
  await page.fill("#input", "What is the weather in Paris?");
  await page.press("#input", "Enter");
  await page.waitForFunction(() => /generated/.test(document.getElementById("stats").textContent), null, { timeout: 60000 });
  const answer = await page.$$eval(".msg.assistant", els => els.map(e => e.lastChild.textContent));
  const thinking = await page.$$eval(".msg.assistant details.thinking div", els => els.map(e => e.textContent));
  check("turn 1: the streamed answer shows 'Hello there.', the thinking 'Let me think.' folded apart",
        answer[0] === "Hello there." && thinking[0] === "Let me think.", JSON.stringify({ answer, thinking }));
  await page.fill("#input", "And tomorrow?");
  await page.press("#input", "Enter");
  await page.waitForFunction(() => document.querySelectorAll(".msg.assistant").length === 2 &&
                                   /generated/.test(document.getElementById("stats").textContent) &&
                                   document.querySelectorAll(".msg.assistant")[1].lastChild.textContent === "Hello there.", null, { timeout: 60000 });
  const stats = await page.textContent("#stats");
  const reused = +(/\((\d+) reused\)/.exec(stats) || [0, 0])[1];
  check(`turn 2: answered, the conversation's prefix reused (${stats})`, reused > 0, stats);
  check("no script errors on the page", errors.length === 0, errors.join("; "));
  await page.screenshot({ path: shot, fullPage: true });
  check("screenshot kept: " + shot, true);
} catch (e) {
  check("browser session", false, e.message);
} finally {
  await browser.close();
}
console.log(`browser: ${passed} passed, ${failed} failed`);
