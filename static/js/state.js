// The page's one store (static/js/kernel/store.js): its state lives in the URL and emits on every change.
// Views read it with get(), change it with set(), navigate with go(); subscribe() hears every change.
import { createStore } from "./kernel/store.js";

const store = createStore(window);

export const { get, set, go, subscribe, onChange } = store;
