-- wrk script: each connection waits 100 ms before each request, so 50 connections make about
-- 500 requests/s: fifty operators clicking through the dashboard (an open page polls only
-- every 5 s), instead of the closed loop that measures saturation.
function delay()
  return 100
end
