// Entry of the window. Element Plus components are registered one by one (only those the
// views use) with their own stylesheets, so that the bundle carries no unused component code
// or CSS.
import { createApp, type Component } from "vue";
import {
  ElAlert, ElButton, ElCard, ElConfigProvider, ElDescriptions, ElDescriptionsItem, ElDialog,
  ElEmpty, ElForm, ElFormItem, ElInput, ElInputNumber, ElLink, ElLoading, ElProgress, ElRadio,
  ElRadioButton, ElRadioGroup, ElTabPane, ElTable, ElTableColumn, ElTabs, ElTag, ElTooltip, ElTree,
} from "element-plus";
// Only the stylesheets of the components registered below (each pulls in what it builds on:
// base, overlay, scrollbar, tooltip, checkbox…), not Element Plus's whole 365 kB stylesheet.
import "element-plus/es/components/alert/style/css";
import "element-plus/es/components/button/style/css";
import "element-plus/es/components/card/style/css";
import "element-plus/es/components/config-provider/style/css";
import "element-plus/es/components/descriptions/style/css";
import "element-plus/es/components/descriptions-item/style/css";
import "element-plus/es/components/dialog/style/css";
import "element-plus/es/components/empty/style/css";
import "element-plus/es/components/form/style/css";
import "element-plus/es/components/form-item/style/css";
import "element-plus/es/components/input/style/css";
import "element-plus/es/components/input-number/style/css";
import "element-plus/es/components/link/style/css";
import "element-plus/es/components/loading/style/css";
import "element-plus/es/components/progress/style/css";
import "element-plus/es/components/radio/style/css";
import "element-plus/es/components/radio-button/style/css";
import "element-plus/es/components/radio-group/style/css";
import "element-plus/es/components/tab-pane/style/css";
import "element-plus/es/components/table/style/css";
import "element-plus/es/components/table-column/style/css";
import "element-plus/es/components/tabs/style/css";
import "element-plus/es/components/tag/style/css";
import "element-plus/es/components/tooltip/style/css";
import "element-plus/es/components/tree/style/css";
import "./style.css";
import App from "./App.vue";
import { i18n } from "./i18n";

const app = createApp(App).use(i18n).use(ElLoading);
const components: Component[] = [
  ElAlert, ElButton, ElCard, ElConfigProvider, ElDescriptions, ElDescriptionsItem, ElDialog,
  ElEmpty, ElForm, ElFormItem, ElInput, ElInputNumber, ElLink, ElProgress, ElRadio, ElRadioButton,
  ElRadioGroup, ElTabPane, ElTable, ElTableColumn, ElTabs, ElTag, ElTooltip, ElTree,
];
for (const c of components) app.use(c as never);
app.mount("#app");
