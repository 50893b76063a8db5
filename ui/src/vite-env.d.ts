// Vite's types for the CSS import.
/// <reference types="vite/client" />
