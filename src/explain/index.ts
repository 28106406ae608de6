// Seeing what a model sees: class activation maps (Grad-CAM, Grad-CAM++).
export { CAM_METHODS, type CamMethod, type CamOptions, classActivationMaps, type ClassActivationMaps, upsampleMaps } from './gradcam.js';
