DROP TABLE schedule_overrides;
DROP TABLE schedule_layer_members;
DROP TABLE schedule_layers;
DROP TABLE schedules;
