"""DRM: Readium LCP licences, License Status Documents, content keys and streaming tokens."""
