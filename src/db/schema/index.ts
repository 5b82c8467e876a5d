export * from "./auth.js";
export * from "./boundaries.js";
export * from "./commitments.js";
export * from "./history.js";
export * from "./pairs.js";
export * from "./platform.js";
export * from "./realtime.js";
