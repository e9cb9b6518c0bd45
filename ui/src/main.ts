// Entry of the window. Element Plus components are registered one by one (only those the
// views use) so that the bundle carries no unused component code; its full stylesheet stays.
import { createApp, type Component } from "vue";
import {
  ElAlert, ElButton, ElCard, ElConfigProvider, ElDescriptions, ElDescriptionsItem, ElDialog,
  ElForm, ElFormItem, ElInput, ElInputNumber, ElLink, ElLoading, ElRadio, ElRadioGroup, ElTable,
  ElTableColumn, ElTag, ElTooltip, ElTree,
} from "element-plus";
import "element-plus/dist/index.css";
import "./style.css";
import App from "./App.vue";
// Bidder project views: pages, seal placement, signatures, bid form, generation (deskbid).
import {
  ElTabs, ElTabPane, ElRadioButton, ElProgress, ElEmpty, ElTooltip as ElTooltipBid,
} from "element-plus";
import { i18n } from "./i18n";

const app = createApp(App).use(i18n).use(ElLoading);
const components: Component[] = [
  ElAlert, ElButton, ElCard, ElConfigProvider, ElDescriptions, ElDescriptionsItem, ElDialog,
  ElForm, ElFormItem, ElInput, ElInputNumber, ElLink, ElRadio, ElRadioGroup, ElTable,
  ElTableColumn, ElTag, ElTooltip, ElTree,
];
for (const c of components) app.use(c as never);
for (const c of [ElTabs, ElTabPane, ElRadioButton, ElProgress, ElEmpty, ElTooltipBid] as Component[]) app.use(c as never);
app.mount("#app");
