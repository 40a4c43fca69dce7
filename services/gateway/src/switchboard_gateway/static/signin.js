// Sign-in shared by every tab of this origin: the user and their token live in localStorage
// (a tab's device id stays per tab, in sessionStorage). Dev mode: a token from POST /ai/dev/token.
import { SwitchboardClient } from "./sdk/index.js";

const KEY = "sb-signin";

export function saved() {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) || "null");
    return value && value.user && value.token ? value : null;
  } catch {
    return null;
  }
}

export async function signIn(baseUrl, user) {
  const token = await SwitchboardClient.devToken(user, baseUrl);
  localStorage.setItem(KEY, JSON.stringify({ user, token }));
  return { user, token };
}

export function signOut() {
  localStorage.removeItem(KEY);
}

// A fresh token: another tab's newer one if it has a while left, else a new dev token.
export async function freshToken(baseUrl, user, current) {
  const other = saved();
  if (other && other.user === user && other.token !== current && secondsLeft(other.token) > 60) {
    return other.token;
  }
  return (await signIn(baseUrl, user)).token;
}

// Sign-in or sign-out in another tab.
export function onChange(callback) {
  window.addEventListener("storage", (event) => {
    if (event.key === KEY || event.key === null) callback(saved());
  });
}

function secondsLeft(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part)).exp - Date.now() / 1000;
  } catch {
    return 0;
  }
}
