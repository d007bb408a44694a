"""Body: Anny model, photo fitting, ISO 8559-1 measurements and mesh export."""
