/**
 * Messages of the window: zh-CN first, English as a switch. Texts live in locales/*.json, not in
 * the components; Element Plus gets the matching locale (see App.vue). The choice is kept in
 * localStorage and told to the Rust side (`set_language`), which words its errors in it.
 */
import { createI18n } from "vue-i18n";
import zhCN from "./locales/zh-CN.json";
import en from "./locales/en.json";
import { setLanguage } from "./api";

export type Locale = "zh-CN" | "en";
const KEY = "bidseal.locale";

function saved(): Locale {
  try {
    return localStorage.getItem(KEY) === "en" ? "en" : "zh-CN";
  } catch {
    return "zh-CN";
  }
}

export const i18n = createI18n({
  legacy: false,
  locale: saved(),
  fallbackLocale: "zh-CN",
  messages: { "zh-CN": zhCN, en },
});

document.documentElement.lang = i18n.global.locale.value;
void setLanguage(i18n.global.locale.value);

/** Switches the window's language; resolves once Rust words its messages in it too. */
export function setLocale(locale: Locale): Promise<void> {
  i18n.global.locale.value = locale;
  document.documentElement.lang = locale;
  const told = setLanguage(locale);
  try {
    localStorage.setItem(KEY, locale);
  } catch {
    /* private mode: the choice lasts for this run */
  }
  return told;
}
