// Seeing what a model sees: class activation maps (Grad-CAM, Grad-CAM++) and their pictures.
export { CAM_METHODS, type CamMethod, type CamOptions, classActivationMaps, type ClassActivationMaps, upsampleMaps } from './gradcam.js';
export { checkOutputDir, type ExplainedImage, explainImages, type ExplainOptions } from './explain.js';
export { montage, overlay, type Panel, turbo } from './render.js';
