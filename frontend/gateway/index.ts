export { gatewayCaps } from './caps.js';
