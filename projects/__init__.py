"""mmdet3d-style projects built on pt3kd_mm (each: README, configs, and a package beside them,
loaded by configs through ``custom_imports``)."""
