export { planBuild, formatPlan, type BuildPlan, type PlannedStep, type Prediction } from './plan.js';
